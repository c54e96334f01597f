package org.gridline.app.shared

import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import org.gridline.ffi.IncidentStatus

class IncidentReportViewModelTest {
    private val store = workerStore()
    private val vm = IncidentReportViewModel(store, Dispatchers.Unconfined)

    @Test
    fun emptyDescriptionShowsTheFieldErrorAndStoresNothing() = runBlocking {
        vm.onCategory("safety_hazard")
        vm.onHousehold(store.addHousehold("张三"))
        val before = store.pendingCount()
        vm.submit()
        val state = vm.state.value
        assertNull(state.reportedId)
        assertTrue(state.fieldErrors.getValue("description").isNotBlank())
        assertEquals(before, store.pendingCount())
    }

    @Test
    fun validReportIsStoredOfflineAndQueued() = runBlocking {
        assertTrue(vm.categories().any { it.first == "safety_hazard" })
        vm.onCategory("safety_hazard")
        vm.onSeverity(vm.severityChoices().last().first)
        vm.onHousehold(store.addHousehold("李四"))
        vm.onDescription("楼道堆放杂物")
        vm.submit()
        val id = assertNotNull(vm.state.value.reportedId)
        assertEquals(IncidentStatus.REPORTED, store.incident(id).status)
        assertEquals("urgent", store.incident(id).severity)
        assertEquals(3uL, store.pendingCount())
    }
}
