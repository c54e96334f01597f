package org.gridline.app.shared

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.withContext
import org.gridline.ffi.ApiException
import org.gridline.ffi.AssignmentStatus
import org.gridline.ffi.GridlineStore
import org.gridline.ffi.TaskAssignment
import org.gridline.ffi.assignmentStatusLabel

/** One row of the task list: the assignment with its task's title and due date. */
data class TaskItem(
    val assignment: TaskAssignment,
    val title: String,
    val description: String,
    /** Due date (ms). */
    val dueAt: Long,
    /** 待提交, 待审核, 已通过, 已退回. */
    val statusLabel: String,
) {
    /** Evidence can be submitted now (not yet, or again after a return). */
    val open: Boolean get() = assignment.status == AssignmentStatus.PENDING || assignment.status == AssignmentStatus.RETURNED
}

/** The task list (我的任务) and the evidence form of the selected task. */
data class TasksUiState(
    val items: List<TaskItem> = emptyList(),
    val selectedId: String? = null,
    val evidenceText: String = "",
    override val photos: List<String> = emptyList(),
    /** Error text by field ("evidence_text", "photos"). */
    override val fieldErrors: Map<String, String> = emptyMap(),
    override val error: String? = null,
    /** Set once evidence is stored (it syncs later). */
    val submittedId: String? = null,
) : PhotoForm<TasksUiState> {
    override fun withPhotos(photos: List<String>, fieldErrors: Map<String, String>, error: String?) =
        copy(photos = photos, fieldErrors = fieldErrors, error = error)
}

/** The task screen: the worker's assignments, open ones first; evidence works offline. */
class MyTasksViewModel(
    private val store: GridlineStore,
    private val io: CoroutineDispatcher = Dispatchers.IO,
) {
    private val _state = MutableStateFlow(TasksUiState())
    val state: StateFlow<TasksUiState> = _state.asStateFlow()

    /** Reloads the list (after a sync, or on opening the screen). */
    suspend fun refresh() {
        try {
            val items = withContext(io) {
                store.myAssignments().map { a ->
                    val task = store.task(a.taskId)
                    TaskItem(a, task.title, task.description, task.dueAt, assignmentStatusLabel(a.status))
                }
            }.sortedWith(compareBy<TaskItem> { !it.open }.thenBy { it.dueAt })
            _state.update { it.copy(items = items, error = null) }
        } catch (e: ApiException) {
            _state.update { it.copy(error = e.userMessage()) }
        }
    }

    /** Opens a task's evidence form, with what was sent before (a returned task is sent again). */
    fun select(assignmentId: String) = _state.update { s ->
        val a = s.items.firstOrNull { it.assignment.id == assignmentId }?.assignment
        s.copy(
            selectedId = assignmentId,
            evidenceText = a?.evidenceText.orEmpty(),
            photos = a?.evidencePhotos.orEmpty(),
            fieldErrors = emptyMap(),
            error = null,
            submittedId = null,
        )
    }

    fun onEvidenceText(text: String) = _state.update { it.copy(evidenceText = text, fieldErrors = it.fieldErrors - "evidence_text") }

    /** Keeps a photo for the evidence; a refused file shows its reason under the photos. */
    suspend fun onPhoto(mime: String, bytes: ByteArray) = _state.keepPhoto(store, mime, bytes, io)

    /** Takes a photo off the evidence; one not used elsewhere is forgotten by the device. */
    suspend fun removePhoto(hash: String) = _state.removePhoto(store, hash, io)

    /** Stores the evidence of the selected task; on bad input the field's error is set and nothing is stored. */
    suspend fun submit() {
        val form = _state.value
        val id = form.selectedId ?: return
        try {
            withContext(io) { store.submitTaskEvidence(id, form.evidenceText, form.photos) }
            _state.update { it.copy(submittedId = id, fieldErrors = emptyMap(), error = null) }
            refresh()
        } catch (e: ApiException.Validation) {
            _state.update { it.copy(fieldErrors = mapOf(e.field to e.reason), error = null) }
        } catch (e: ApiException) {
            _state.update { it.copy(error = e.userMessage()) }
        }
    }
}
