package org.gridline.app.shared

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.withContext
import org.gridline.ffi.ApiException
import org.gridline.ffi.Area
import org.gridline.ffi.GpsPoint
import org.gridline.ffi.GridlineStore
import org.gridline.ffi.Patrol

/** The patrol screen (网格巡查): the worker's grids, the patrol under way and earlier ones. */
data class PatrolUiState(
    val grids: List<Area> = emptyList(),
    val gridId: String? = null,
    /** The patrol under way, if any (kept across a restart of the app). */
    val current: Patrol? = null,
    /** GPS points received and not yet stored. */
    val unsaved: Int = 0,
    /** This worker's patrols, newest first. */
    val history: List<Patrol> = emptyList(),
    val error: String? = null,
)

/**
 * The patrol screen: start a patrol of a grid, feed it the phone's GPS fixes, end it. Fixes
 * are stored in batches ([BATCH] at a time, and the rest when the patrol ends), one queued
 * change per batch rather than one per fix; all of it works offline.
 */
class PatrolViewModel(
    private val store: GridlineStore,
    private val io: CoroutineDispatcher = Dispatchers.IO,
) {
    private val _state = MutableStateFlow(PatrolUiState())
    val state: StateFlow<PatrolUiState> = _state.asStateFlow()
    private val buffer = mutableListOf<GpsPoint>()

    /** Loads the grids and history, and picks up a patrol left running (the app was closed mid-patrol). */
    suspend fun open() = guarded {
        val (grids, patrols) = withContext(io) { store.myGrids() to store.patrols(null) }
        _state.update {
            it.copy(
                grids = grids,
                gridId = it.gridId ?: grids.firstOrNull()?.id,
                current = patrols.firstOrNull { p -> p.endedAt == null },
                history = patrols,
            )
        }
    }

    fun onGrid(id: String) = _state.update { it.copy(gridId = id) }

    /** Starts a patrol of the chosen grid. */
    suspend fun start(note: String = "") = guarded {
        val grid = _state.value.gridId ?: throw IllegalStateException("请先选择网格")
        val patrol = withContext(io) { store.startPatrol(grid, note) }
        buffer.clear()
        _state.update { it.copy(current = patrol, unsaved = 0) }
        refreshHistory()
    }

    /** One GPS fix from the phone; stored with the next batch. Ignored when no patrol is under way. */
    suspend fun onFix(lat: Double, lng: Double, atMs: Long, accuracyM: Double?) {
        if (_state.value.current == null) return
        buffer += GpsPoint(lat = lat, lng = lng, at = atMs, accuracyM = accuracyM)
        _state.update { it.copy(unsaved = buffer.size) }
        if (buffer.size >= BATCH) guarded { flush() }
    }

    /** Stores the remaining fixes and ends the patrol; its distance is then final. If the fixes
     *  cannot be stored, the patrol stays under way (nothing is dropped). */
    suspend fun end() = guarded {
        val patrol = _state.value.current ?: return@guarded
        flush()
        withContext(io) { store.endPatrol(patrol.id) }
        _state.update { it.copy(current = null) }
        // The history read back holds the ended patrol with its final distance.
        refreshHistory()
    }

    /** Stores the buffered fixes; throws (keeping them) when that fails. */
    private suspend fun flush() {
        val patrol = _state.value.current ?: return
        if (buffer.isEmpty()) return
        val points = buffer.toList()
        val updated = withContext(io) { store.addPatrolPoints(patrol.id, points) }
        // Fixes that came in while these were stored stay for the next batch.
        buffer.subList(0, points.size).clear()
        _state.update { it.copy(current = updated, unsaved = buffer.size) }
    }

    private suspend fun refreshHistory() {
        val patrols = withContext(io) { store.patrols(null) }
        _state.update { it.copy(history = patrols) }
    }

    /** Runs [block]; a failure shows its text and keeps what was not stored. */
    private suspend fun guarded(block: suspend () -> Unit) {
        try {
            block()
            _state.update { it.copy(error = null) }
        } catch (e: ApiException) {
            _state.update { it.copy(error = e.userMessage()) }
        } catch (e: IllegalStateException) {
            _state.update { it.copy(error = e.message) }
        }
    }

    companion object {
        /** Fixes stored per batch (at one fix every few seconds, about one change a minute). */
        const val BATCH = 10
    }
}
