import Foundation
import GridlineFFI

/// The household search screen (户籍查询): type a name, room, address or phone fragment.
@MainActor
public final class HouseholdSearchModel: ObservableObject {
    @Published public private(set) var hits: [SearchHit] = []
    @Published public private(set) var error: String?
    private let store: GridlineStore

    public init(store: GridlineStore) {
        self.store = store
    }

    /// Runs the search off the main thread; a blank query clears the list.
    public func search(_ query: String) async {
        guard !query.trimmingCharacters(in: .whitespaces).isEmpty else {
            hits = []
            error = nil
            return
        }
        let store = self.store
        do {
            hits = try await offMain { try store.search(query: query, limit: 50) }
            error = nil
        } catch {
            hits = []
            self.error = error.screenMessage
        }
    }
}
