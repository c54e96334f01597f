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

    @Test
    fun photosGoWithTheReportAndARemovedOneIsForgotten() = runBlocking {
        val png = byteArrayOf(0x89.toByte(), 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A) + ByteArray(32) { 1 }
        val jpeg = byteArrayOf(0xFF.toByte(), 0xD8.toByte(), 0xFF.toByte(), 0xE0.toByte()) + ByteArray(32) { 2 }
        // Not an accepted image type: refused under the photo field, nothing kept.
        vm.onPhoto("image/gif", png)
        assertTrue(vm.state.value.fieldErrors.getValue("photos").isNotBlank())
        assertTrue(vm.state.value.photos.isEmpty())
        assertTrue(store.pendingPhotos().isEmpty())
        vm.onPhoto("image/png", png)
        vm.onPhoto("image/jpeg", jpeg)
        assertEquals(2, vm.state.value.photos.size)
        assertNull(vm.state.value.fieldErrors["photos"])
        // The second one is taken off the report: the device forgets it.
        vm.removePhoto(vm.state.value.photos.last())
        val kept = vm.state.value.photos.single()
        assertEquals(listOf(kept), store.pendingPhotos())
        vm.onCategory("safety_hazard")
        vm.onHousehold(store.addHousehold("王五"))
        vm.onDescription("楼道灯损坏")
        vm.submit()
        val id = assertNotNull(vm.state.value.reportedId)
        assertEquals(listOf(kept), store.incident(id).photos)
    }
}
