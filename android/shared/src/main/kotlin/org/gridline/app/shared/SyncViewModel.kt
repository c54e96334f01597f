package org.gridline.app.shared

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.withContext
import org.gridline.ffi.ApiException
import org.gridline.ffi.GridlineStore
import org.gridline.ffi.Progress
import org.gridline.ffi.SyncCancelToken
import org.gridline.ffi.SyncListener
import org.gridline.ffi.SyncPhase

/** What the sync bar shows. */
data class SyncUiState(
    val pending: ULong = 0uL,
    val rejected: ULong = 0uL,
    val running: Boolean = false,
    /** Short status line, e.g. "正在上传 3/10". */
    val line: String = "",
    val lastError: String? = null,
)

/** The sync bar on the home screen: pending count, a sync button with progress, cancel. */
class SyncViewModel(
    private val store: GridlineStore,
    private val serverUrl: String,
    private val io: CoroutineDispatcher = Dispatchers.IO,
) {
    private val _state = MutableStateFlow(SyncUiState())
    val state: StateFlow<SyncUiState> = _state.asStateFlow()
    @Volatile private var token: SyncCancelToken? = null

    /** Re-reads the outbox counts. */
    suspend fun refresh() {
        val status = withContext(io) { store.syncStatus() }
        _state.update { it.copy(pending = status.pendingOps, rejected = status.rejectedOps, lastError = status.lastError) }
    }

    /** Runs one sync, updating the status line as progress arrives. */
    suspend fun syncNow() {
        val cancel = SyncCancelToken().also { token = it }
        _state.update { it.copy(running = true, line = "正在同步", lastError = null) }
        val listener = object : SyncListener {
            override fun onProgress(progress: Progress) = _state.update { it.copy(line = progress.describe()) }
        }
        val line = try {
            val report = withContext(io) { store.sync(serverUrl, listener, cancel) }
            "同步完成：上传${report.pushed}条，下载${report.pulled}条"
        } catch (e: ApiException) {
            e.userMessage()
        } finally {
            token = null
        }
        refresh()
        _state.update { it.copy(running = false, line = line) }
    }

    /** Stops a running sync at its next step; nothing already stored is lost. */
    fun cancel() {
        token?.cancel()
    }

    private fun Progress.describe(): String = when (phase) {
        SyncPhase.PUSH -> "正在上传 $done/$total"
        SyncPhase.PULL -> "正在下载 $done"
        SyncPhase.PURGE -> "正在更新管辖范围"
        SyncPhase.UPLOAD -> "正在上传照片 $done/$total"
    }
}
