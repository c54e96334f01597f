package org.gridline.app.shared

import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking

class HouseholdVisitViewModelTest {
    private val store = workerStore()
    private val vm = HouseholdVisitViewModel(store, Dispatchers.Unconfined)

    @Test
    fun aVisitWithoutPurposeShowsTheFieldErrorAndStoresNothing() = runBlocking {
        vm.open(store.addHousehold("赵六"))
        vm.onNotes("家中无人")
        val before = store.pendingCount()
        vm.save()
        assertNull(vm.state.value.savedVisitId)
        assertTrue(vm.state.value.fieldErrors.getValue("purpose").isNotBlank())
        assertEquals("家中无人", vm.state.value.notes, "what was typed stays")
        assertEquals(before, store.pendingCount())
    }

    @Test
    fun anIncidentRaisedOnAVisitIsSavedWithItAndTheHistoryShowsTheVisit() = runBlocking {
        val household = store.addHousehold("孙七")
        vm.open(household)
        assertTrue(vm.state.value.history.isEmpty())
        vm.onPurpose("独居老人月访")
        vm.onFindings("楼道堆放杂物")
        vm.onRaiseIncident(true)
        vm.onIncidentCategory("safety_hazard")
        // The incident needs a description: nothing is saved, the visit is not saved alone either.
        val before = store.pendingCount()
        vm.save()
        assertTrue(vm.state.value.fieldErrors.getValue("description").isNotBlank())
        assertEquals(before, store.pendingCount())
        vm.onIncidentDescription("三楼楼道堆放纸箱，影响通行")
        vm.save()
        val state = vm.state.value
        val visitId = assertNotNull(state.savedVisitId)
        val incidentId = assertNotNull(state.raisedIncidentId)
        assertEquals(household, store.incident(incidentId).householdId)
        assertEquals(listOf(visitId), state.history.map { it.id })
        assertEquals("", state.purpose, "the form is empty for the next visit")
        assertEquals(before + 2uL, store.pendingCount(), "the visit and the incident are queued")
    }
}
