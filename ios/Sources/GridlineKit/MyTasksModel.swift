import Foundation
import GridlineFFI

/// One row of the task list: the assignment with its task's title and due date.
public struct TaskItem: Identifiable, Sendable {
    public let assignment: TaskAssignment
    public let title: String
    public let details: String
    /// Due date (ms).
    public let dueAt: Int64
    /// 待提交, 待审核, 已通过, 已退回.
    public let statusLabel: String
    public var id: String { assignment.id }
    /// Evidence can be submitted now (not yet, or again after a return).
    public var isOpen: Bool { assignment.status == .pending || assignment.status == .returned }
}

/// The task list (我的任务) and the evidence form of the selected task; evidence works offline.
@MainActor
public final class MyTasksModel: ObservableObject {
    @Published public private(set) var items: [TaskItem] = []
    @Published public private(set) var selectedId: String?
    @Published public var evidenceText = ""
    @Published public private(set) var photos: [String] = []
    /// Error text by field ("evidence_text", "photos").
    @Published public private(set) var fieldErrors: [String: String] = [:]
    @Published public private(set) var error: String?
    /// Set once evidence is stored (it syncs later).
    @Published public private(set) var submittedId: String?
    private let store: GridlineStore

    public init(store: GridlineStore) {
        self.store = store
    }

    /// Reloads the list, open tasks first, the soonest due first.
    public func refresh() async {
        let store = self.store
        do {
            let loaded: [TaskItem] = try await offMain {
                try store.myAssignments().map { a in
                    let task = try store.task(id: a.taskId)
                    return TaskItem(assignment: a, title: task.title, details: task.description, dueAt: task.dueAt,
                                    statusLabel: assignmentStatusLabel(status: a.status))
                }
            }
            items = loaded.sorted { ($0.isOpen ? 0 : 1, $0.dueAt) < ($1.isOpen ? 0 : 1, $1.dueAt) }
            error = nil
        } catch {
            self.error = error.screenMessage
        }
    }

    /// Opens a task's evidence form, with what was sent before (a returned task is sent again).
    public func select(_ assignmentId: String) {
        let previous = items.first { $0.id == assignmentId }?.assignment
        selectedId = assignmentId
        evidenceText = previous?.evidenceText ?? ""
        photos = previous?.evidencePhotos ?? []
        fieldErrors = [:]
        error = nil
        submittedId = nil
    }

    /// Keeps a photo for the evidence; a refused file shows its reason under the photos.
    public func addPhoto(mime: String, data: Data) async {
        let outcome = await keepPhoto(store, mime: mime, data: data)
        if let message = applyPhotoOutcome(outcome, photos: &photos, fieldErrors: &fieldErrors) {
            error = message
        }
    }

    /// Takes a photo off the evidence; one not used elsewhere is forgotten by the device.
    public func removePhoto(_ hash: String) async {
        photos.removeAll { $0 == hash }
        if let message = await forgetPhoto(store, hash: hash) {
            error = message
        }
    }

    /// Stores the evidence of the selected task; on bad input the field's error is set and
    /// nothing is stored.
    public func submit() async {
        guard let selectedId else { return }
        let (store, text, photos) = (self.store, evidenceText, self.photos)
        do {
            _ = try await offMain { try store.submitTaskEvidence(assignmentId: selectedId, text: text, photos: photos) }
            submittedId = selectedId
            fieldErrors = [:]
            error = nil
            await refresh()
        } catch let ApiError.Validation(field, reason) {
            fieldErrors = [field: reason]
        } catch {
            self.error = error.screenMessage
        }
    }
}
