import Foundation
import GridlineFFI

/// The incident report form (事件上报): works offline; the report is sent with the next sync.
@MainActor
public final class IncidentReportModel: ObservableObject {
    @Published public var category = ""
    @Published public var severity = "normal"
    @Published public var text = ""
    @Published public var householdId: String?
    /// Error text by field, shown under the field.
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

    /// Stores the report; on bad input the field's error is set and nothing is stored.
    public func submit() async {
        let new = NewIncident(category: category, severity: severity, householdId: householdId, description: text)
        let store = self.store
        do {
            let incident = try await Task.detached { try store.reportIncident(new: new) }.value
            reportedId = incident.id
            fieldErrors = [:]
            error = nil
        } catch let ApiError.Validation(field, reason) {
            fieldErrors = [field: reason]
        } catch let e as ApiError {
            error = e.userMessage
        } catch {
            self.error = error.localizedDescription
        }
    }
}
