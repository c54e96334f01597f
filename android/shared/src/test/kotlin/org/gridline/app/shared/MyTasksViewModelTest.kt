package org.gridline.app.shared

import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import org.gridline.ffi.AssignmentStatus
import org.gridline.ffi.NewTask
import org.gridline.ffi.Principal
import org.gridline.ffi.Role
import org.gridline.ffi.Scope
import org.gridline.ffi.TaskTarget

class MyTasksViewModelTest {
    private val store = workerStore()
    private val vm = MyTasksViewModel(store, Dispatchers.Unconfined)

    /** A supervisor of the city issues a task to the worker's grid; the worker is back on the device. */
    private fun issue(title: String, dueInDays: Long) {
        store.setPrincipal(Principal(userId = "u-sup", role = Role.SUPERVISOR, scope = Scope(areaIds = listOf("JM"))))
        store.createTask(
            NewTask(
                areaId = "JM",
                title = title,
                dueAt = System.currentTimeMillis() + dueInDays * 86_400_000,
                targets = listOf(TaskTarget(gridId = GRID)),
            ),
        )
        store.setPrincipal(Principal(userId = "u-1", role = Role.GRID_WORKER, scope = Scope(areaIds = listOf(GRID))))
    }

    @Test
    fun evidenceIsSubmittedOfflineWithAPhotoAndTheTaskLeavesTheOpenList() = runBlocking {
        issue("防汛隐患排查", dueInDays = 7)
        issue("独居老人走访", dueInDays = 2)
        vm.refresh()
        assertEquals(listOf("独居老人走访", "防汛隐患排查"), vm.state.value.items.map { it.title }, "soonest due first")
        assertTrue(vm.state.value.items.all { it.open && it.statusLabel == "待提交" })
        val id = vm.state.value.items.first().assignment.id
        vm.select(id)
        // No evidence text: refused under its field, nothing stored.
        val before = store.pendingCount()
        vm.submit()
        assertTrue(vm.state.value.fieldErrors.getValue("evidence_text").isNotBlank())
        assertEquals(before, store.pendingCount())
        val jpeg = byteArrayOf(0xFF.toByte(), 0xD8.toByte(), 0xFF.toByte(), 0xE0.toByte()) + ByteArray(16) { 3 }
        vm.onPhoto("image/jpeg", jpeg)
        vm.onEvidenceText("已走访三户独居老人，情况良好")
        vm.submit()
        val done = vm.state.value.items.first { it.assignment.id == id }
        assertEquals(AssignmentStatus.SUBMITTED, done.assignment.status)
        assertEquals("待审核", done.statusLabel)
        assertEquals(vm.state.value.photos, done.assignment.evidencePhotos)
        assertFalse(done.open)
        assertEquals(id, vm.state.value.items.last().assignment.id, "submitted work goes below the open task")
        assertEquals(before + 1uL, store.pendingCount())
    }
}
