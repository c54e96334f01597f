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
import org.gridline.ffi.NewVisit
import org.gridline.ffi.Visit

/** The household visit form (入户走访) and the household's earlier visits. */
data class VisitUiState(
    val householdId: String? = null,
    val purpose: String = "",
    val notes: String = "",
    val findings: String = "",
    /** Report an incident found on this visit, saved together with the visit. */
    val raiseIncident: Boolean = false,
    val incidentCategory: String = "",
    val incidentDescription: String = "",
    /** Error text by field ("purpose", "notes", "findings"; "category", "description" of the incident). */
    val fieldErrors: Map<String, String> = emptyMap(),
    /** An error not tied to a field. */
    val error: String? = null,
    /** Set once the visit is stored (it syncs later), with the incident raised from it, if any. */
    val savedVisitId: String? = null,
    val raisedIncidentId: String? = null,
    /** This household's visits, newest first. */
    val history: List<Visit> = emptyList(),
)

/** The visit screen: works offline; the visit (and its incident) is sent with the next sync. */
class HouseholdVisitViewModel(
    private val store: GridlineStore,
    private val io: CoroutineDispatcher = Dispatchers.IO,
) {
    private val _state = MutableStateFlow(VisitUiState())
    val state: StateFlow<VisitUiState> = _state.asStateFlow()

    /** Starts a visit to a household (picked from the search): an empty form and its history. */
    suspend fun open(householdId: String) {
        _state.value = VisitUiState(householdId = householdId)
        loadHistory(householdId)
    }

    fun onPurpose(text: String) = _state.update { it.copy(purpose = text, fieldErrors = it.fieldErrors - "purpose") }
    fun onNotes(text: String) = _state.update { it.copy(notes = text, fieldErrors = it.fieldErrors - "notes") }
    fun onFindings(text: String) = _state.update { it.copy(findings = text, fieldErrors = it.fieldErrors - "findings") }
    fun onRaiseIncident(on: Boolean) =
        _state.update { it.copy(raiseIncident = on, fieldErrors = it.fieldErrors - "category" - "description") }
    fun onIncidentCategory(code: String) = _state.update { it.copy(incidentCategory = code, fieldErrors = it.fieldErrors - "category") }
    fun onIncidentDescription(text: String) =
        _state.update { it.copy(incidentDescription = text, fieldErrors = it.fieldErrors - "description") }

    /** Stores the visit (and the incident, when one is raised) in one save; on bad input the fields' errors are set and nothing is stored. */
    suspend fun save() {
        val form = _state.value
        val household = form.householdId ?: run {
            _state.update { it.copy(error = "请先在户籍查询中选择住户") }
            return
        }
        val new = NewVisit(
            householdId = household,
            purpose = form.purpose,
            notes = form.notes,
            findings = form.findings,
            raiseIncident = if (form.raiseIncident) NewIncident(category = form.incidentCategory, description = form.incidentDescription) else null,
        )
        try {
            val visit = withContext(io) { store.recordVisit(new) }
            _state.value = VisitUiState(householdId = household, savedVisitId = visit.id, raisedIncidentId = visit.incidentId)
            loadHistory(household)
        } catch (e: ApiException.Validation) {
            _state.value = form.copy(fieldErrors = mapOf(e.field to e.reason), error = null)
        } catch (e: ApiException) {
            _state.value = form.copy(error = e.userMessage())
        }
    }

    private suspend fun loadHistory(householdId: String) {
        try {
            val visits = withContext(io) { store.visitsOf(householdId) }
            _state.update { if (it.householdId == householdId) it.copy(history = visits) else it }
        } catch (e: ApiException) {
            _state.update { it.copy(error = e.userMessage()) }
        }
    }
}
