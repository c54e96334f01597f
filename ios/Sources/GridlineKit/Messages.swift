import Foundation
import GridlineFFI

extension ApiError {
    /// The text a screen shows for an error from the core (Simplified Chinese).
    public var userMessage: String {
        switch self {
        case let .Validation(_, reason): return reason
        case let .PermissionDenied(_, reason): return reason
        case .NotFound: return "记录不存在或已被删除"
        case let .Conflict(reason): return reason
        case let .Auth(reason): return "请重新登录：\(reason)"
        case .Network: return "网络不可用，数据已保存在本机，稍后会自动同步"
        case let .Server(_, reason): return "服务器拒绝了请求：\(reason)"
        case .Cancelled: return "同步已取消"
        case .Storage: return "本机存储出错，请重启应用"
        case .Internal: return "应用内部错误，请反馈给管理员"
        }
    }
}

extension Error {
    /// The text a screen shows for anything a call into the core threw.
    public var screenMessage: String {
        (self as? ApiError)?.userMessage ?? localizedDescription
    }
}

/// Runs a blocking call into the core off the main actor and returns its result. (In this
/// module `Task` alone names the generated `GridlineFFI.Task` record, the supervisor's task,
/// which shadows the concurrency type: the latter is spelled `_Concurrency.Task`.)
func offMain<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await _Concurrency.Task.detached(operation: work).value
}
