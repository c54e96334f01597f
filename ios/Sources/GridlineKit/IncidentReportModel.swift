import Foundation
import GridlineFFI

/// The incident report form (事件上报): works offline; the report is sent with the next sync.
@MainActor
public final class IncidentReportModel: ObservableObject {
    @Published public var category = ""
    @Published public var severity = "normal"
    @Published public var text = ""
    @Published public var householdId: String?
    /// Photos taken or picked for the report (hashes; kept on the device, uploaded by sync).
    @Published public private(set) var photos: [String] = []
    /// Error text by field, shown under the field ("photos" for a refused photo).
    @Published public private(set) var fieldErrors: [String: String] = [:]
    @Published public private(set) var error: String?
    /// Set once the report is stored.
    @Published public private(set) var reportedId: String?
    private let store: GridlineStore

    public init(store: GridlineStore) {
        self.store = store
    }

    /// Severity choices, code and label.
    public var severityChoices: [Label] { severities() }

    /// Keeps a photo for the report. A file that is not a JPEG, PNG or WebP image, or is over
    /// 10 MB, is refused under "photos" and nothing is kept.
    public func addPhoto(mime: String, data: Data) async {
        let outcome = await keepPhoto(store, mime: mime, data: data)
        if let message = applyPhotoOutcome(outcome, photos: &photos, fieldErrors: &fieldErrors) {
            error = message
        }
    }

    /// Takes a photo off the report; the device forgets it, so it never reaches the server.
    public func removePhoto(_ hash: String) async {
        photos.removeAll { $0 == hash }
        if let message = await forgetPhoto(store, hash: hash) {
            error = message
        }
    }

    /// Stores the report; on bad input the field's error is set and nothing is stored.
    public func submit() async {
        let new = NewIncident(category: category, severity: severity, householdId: householdId, description: text, photos: photos)
        let store = self.store
        do {
            let incident = try await offMain { try store.reportIncident(new: new) }
            reportedId = incident.id
            fieldErrors = [:]
            error = nil
        } catch let ApiError.Validation(field, reason) {
            fieldErrors = [field: reason]
        } catch {
            self.error = error.screenMessage
        }
    }
}
