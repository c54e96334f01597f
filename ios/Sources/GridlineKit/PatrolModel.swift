import Foundation
import GridlineFFI

/// The patrol screen (网格巡查): start a patrol of a grid, feed it the phone's GPS fixes, end it.
/// Fixes are stored in batches (`batch` at a time, and the rest when the patrol ends), one
/// queued change per batch rather than one per fix; all of it works offline.
@MainActor
public final class PatrolModel: ObservableObject {
    /// Fixes stored per batch (at one fix every few seconds, about one change a minute).
    public static let batch = 10
    @Published public private(set) var grids: [Area] = []
    @Published public var gridId: String?
    /// The patrol under way, if any (kept across a restart of the app).
    @Published public private(set) var current: Patrol?
    /// GPS fixes received and not yet stored.
    @Published public private(set) var unsaved = 0
    /// This worker's patrols, newest first.
    @Published public private(set) var history: [Patrol] = []
    @Published public private(set) var error: String?
    private var buffer: [GpsPoint] = []
    private let store: GridlineStore

    public init(store: GridlineStore) {
        self.store = store
    }

    /// Loads the grids and history, and picks up a patrol left running (the app was closed mid-patrol).
    public func open() async {
        let store = self.store
        do {
            let (grids, patrols) = try await offMain { (try store.myGrids(), try store.patrols(workerId: nil)) }
            self.grids = grids
            gridId = gridId ?? grids.first?.id
            current = patrols.first { $0.endedAt == nil }
            history = patrols
            error = nil
        } catch {
            self.error = error.screenMessage
        }
    }

    /// Starts a patrol of the chosen grid.
    public func start(note: String = "") async {
        guard let gridId else {
            error = "请先选择网格"
            return
        }
        let store = self.store
        do {
            current = try await offMain { try store.startPatrol(gridId: gridId, note: note) }
            buffer = []
            unsaved = 0
            history = try await offMain { try store.patrols(workerId: nil) }
            error = nil
        } catch {
            self.error = error.screenMessage
        }
    }

    /// One GPS fix from the phone; stored with the next batch. Ignored when no patrol is under way.
    public func onFix(lat: Double, lng: Double, atMs: Int64, accuracyM: Double?) async {
        guard current != nil else { return }
        buffer.append(GpsPoint(lat: lat, lng: lng, at: atMs, accuracyM: accuracyM))
        unsaved = buffer.count
        if buffer.count >= Self.batch {
            do {
                try await flush()
            } catch {
                self.error = error.screenMessage
            }
        }
    }

    /// Stores the remaining fixes and ends the patrol; its distance is then final. If the fixes
    /// cannot be stored, the patrol stays under way (nothing is dropped).
    public func end() async {
        guard let patrol = current else { return }
        let store = self.store
        do {
            try await flush()
            _ = try await offMain { try store.endPatrol(patrolId: patrol.id) }
            current = nil
            history = try await offMain { try store.patrols(workerId: nil) }
            error = nil
        } catch {
            self.error = error.screenMessage
        }
    }

    /// Stores the buffered fixes; throws (keeping them) when that fails.
    private func flush() async throws {
        guard let patrol = current, !buffer.isEmpty else { return }
        let (store, points) = (self.store, buffer)
        current = try await offMain { try store.addPatrolPoints(patrolId: patrol.id, points: points) }
        // Fixes that came in while these were stored stay for the next batch.
        buffer.removeFirst(points.count)
        unsaved = buffer.count
    }
}
