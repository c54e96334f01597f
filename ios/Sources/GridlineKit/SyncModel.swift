import Foundation
import GridlineFFI

/// The sync bar: pending count, a sync button with progress, cancel.
@MainActor
public final class SyncModel: ObservableObject {
    @Published public private(set) var pending: UInt64 = 0
    @Published public private(set) var running = false
    @Published public private(set) var line = ""
    private let store: GridlineStore
    private let serverUrl: String
    private var token: SyncCancelToken?

    public init(store: GridlineStore, serverUrl: String) {
        self.store = store
        self.serverUrl = serverUrl
    }

    /// Runs one sync off the main thread, showing progress as it arrives.
    public func syncNow() async {
        let token = SyncCancelToken()
        self.token = token
        running = true
        let (store, url) = (self.store, self.serverUrl)
        let listener = ProgressRelay { [weak self] text in _Concurrency.Task { @MainActor in self?.line = text } }
        do {
            let report = try await offMain { try store.sync(serverUrl: url, listener: listener, cancel: token) }
            line = "同步完成：上传\(report.pushed)条，下载\(report.pulled)条"
        } catch {
            line = error.screenMessage
        }
        pending = (try? store.pendingCount()) ?? pending
        running = false
        self.token = nil
    }

    /// Stops a running sync at its next step; nothing already stored is lost.
    public func cancel() {
        token?.cancel()
    }
}

/// Turns progress reports from the sync thread into status lines.
private final class ProgressRelay: SyncListener, @unchecked Sendable {
    private let show: (String) -> Void

    init(show: @escaping (String) -> Void) {
        self.show = show
    }

    func onProgress(progress: Progress) {
        switch progress.phase {
        case .push: show("正在上传 \(progress.done)/\(progress.total)")
        case .pull: show("正在下载 \(progress.done)")
        case .purge: show("正在更新管辖范围")
        case .upload: show("正在上传照片 \(progress.done)/\(progress.total)")
        }
    }
}
