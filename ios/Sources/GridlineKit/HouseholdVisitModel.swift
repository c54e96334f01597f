import Foundation
import GridlineFFI

/// The household visit form (入户走访): works offline; the visit, and an incident raised on it,
/// are saved together and sent with the next sync.
@MainActor
public final class HouseholdVisitModel: ObservableObject {
    @Published public private(set) var householdId: String?
    @Published public var purpose = ""
    @Published public var notes = ""
    @Published public var findings = ""
    /// Report an incident found on this visit, saved together with the visit.
    @Published public var raiseIncident = false
    @Published public var incidentCategory = ""
    @Published public var incidentDescription = ""
    /// Error text by field ("purpose", "notes", "findings"; "category", "description" of the incident).
    @Published public private(set) var fieldErrors: [String: String] = [:]
    @Published public private(set) var error: String?
    /// Set once the visit is stored, with the incident raised from it, if any.
    @Published public private(set) var savedVisitId: String?
    @Published public private(set) var raisedIncidentId: String?
    /// This household's visits, newest first.
    @Published public private(set) var history: [Visit] = []
    private let store: GridlineStore

    public init(store: GridlineStore) {
        self.store = store
    }

    /// Starts a visit to a household (picked from the search): an empty form and its history.
    public func open(householdId: String) async {
        self.householdId = householdId
        clearForm()
        savedVisitId = nil
        raisedIncidentId = nil
        history = []
        await loadHistory()
    }

    /// Stores the visit (and the incident, when one is raised) in one save; on bad input the
    /// field's error is set and nothing is stored.
    public func save() async {
        guard let householdId else {
            error = "请先在户籍查询中选择住户"
            return
        }
        let incident = raiseIncident ? NewIncident(category: incidentCategory, description: incidentDescription) : nil
        let new = NewVisit(householdId: householdId, purpose: purpose, notes: notes, findings: findings, raiseIncident: incident)
        let store = self.store
        do {
            let visit = try await offMain { try store.recordVisit(new: new) }
            savedVisitId = visit.id
            raisedIncidentId = visit.incidentId
            clearForm()
            await loadHistory()
        } catch let ApiError.Validation(field, reason) {
            fieldErrors = [field: reason]
        } catch {
            self.error = error.screenMessage
        }
    }

    private func clearForm() {
        purpose = ""
        notes = ""
        findings = ""
        raiseIncident = false
        incidentCategory = ""
        incidentDescription = ""
        fieldErrors = [:]
        error = nil
    }

    private func loadHistory() async {
        guard let householdId else { return }
        let store = self.store
        do {
            history = try await offMain { try store.visitsOf(householdId: householdId) }
        } catch {
            self.error = error.screenMessage
        }
    }
}
