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
import org.gridline.ffi.NewIncident
import org.gridline.ffi.severities

/** The incident report form (事件上报) and what it shows. */
data class ReportUiState(
    val category: String = "",
    val severity: String = "normal",
    val description: String = "",
    val householdId: String? = null,
    /** Photos taken or picked for the report (hashes; kept on the device, uploaded by sync). */
    override val photos: List<String> = emptyList(),
    /** Error text by field, shown under the field ("photos" for a refused photo). */
    override val fieldErrors: Map<String, String> = emptyMap(),
    /** An error not tied to a field. */
    override val error: String? = null,
    /** Set once the report is stored (it syncs later). */
    val reportedId: String? = null,
) : PhotoForm<ReportUiState> {
    override fun withPhotos(photos: List<String>, fieldErrors: Map<String, String>, error: String?) =
        copy(photos = photos, fieldErrors = fieldErrors, error = error)
}

/** The incident report screen: works offline; the report is sent with the next sync. */
class IncidentReportViewModel(
    private val store: GridlineStore,
    private val io: CoroutineDispatcher = Dispatchers.IO,
) {
    private val _state = MutableStateFlow(ReportUiState())
    val state: StateFlow<ReportUiState> = _state.asStateFlow()

    /** Category choices, code to name. */
    suspend fun categories(): List<Pair<String, String>> = withContext(io) { store.categories().map { it.id to it.name } }

    /** Severity choices, code to label. */
    fun severityChoices(): List<Pair<String, String>> = severities().map { it.code to it.label }

    fun onCategory(code: String) = _state.update { it.copy(category = code, fieldErrors = it.fieldErrors - "category") }
    fun onSeverity(code: String) = _state.update { it.copy(severity = code, fieldErrors = it.fieldErrors - "severity") }
    fun onDescription(text: String) = _state.update { it.copy(description = text, fieldErrors = it.fieldErrors - "description") }
    fun onHousehold(id: String?) = _state.update { it.copy(householdId = id, fieldErrors = it.fieldErrors - "household_id") }

    /**
     * Keeps a photo for the report. A file that is not a JPEG, PNG or WebP image, or is over
     * 10 MB, is refused under "photos" and nothing is kept.
     */
    suspend fun onPhoto(mime: String, bytes: ByteArray) = _state.keepPhoto(store, mime, bytes, io)

    /** Takes a photo off the report; the device forgets it, so it never reaches the server. */
    suspend fun removePhoto(hash: String) = _state.removePhoto(store, hash, io)

    /** Stores the report; on bad input the fields' errors are set and nothing is stored. */
    suspend fun submit() {
        val form = _state.value
        val new = NewIncident(
            category = form.category,
            severity = form.severity,
            householdId = form.householdId,
            description = form.description,
            photos = form.photos,
        )
        _state.value = try {
            val incident = withContext(io) { store.reportIncident(new) }
            form.copy(fieldErrors = emptyMap(), error = null, reportedId = incident.id)
        } catch (e: ApiException.Validation) {
            form.copy(fieldErrors = mapOf(e.field to e.reason), error = null)
        } catch (e: ApiException) {
            form.copy(error = e.userMessage())
        }
    }
}
