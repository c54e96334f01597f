package org.gridline.app.shared

import org.gridline.ffi.ApiException

/** The text a screen shows for an error from the core (Simplified Chinese). */
fun ApiException.userMessage(): String = when (this) {
    is ApiException.Validation -> reason
    is ApiException.PermissionDenied -> reason
    is ApiException.NotFound -> "记录不存在或已被删除"
    is ApiException.Conflict -> reason
    is ApiException.Auth -> "请重新登录：$reason"
    is ApiException.Network -> "网络不可用，数据已保存在本机，稍后会自动同步"
    is ApiException.Server -> "服务器拒绝了请求：$reason"
    is ApiException.Cancelled -> "同步已取消"
    is ApiException.Storage -> "本机存储出错，请重启应用"
    is ApiException.Internal -> "应用内部错误，请反馈给管理员"
}
