package org.gridline.app.shared

import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking

class PatrolViewModelTest {
    private val store = workerStore()

    @Test
    fun fixesAreStoredInBatchesAndEndingGivesTheDistance() = runBlocking {
        val vm = PatrolViewModel(store, Dispatchers.Unconfined)
        vm.open()
        assertEquals(GRID, vm.state.value.gridId)
        // No patrol under way: a fix is ignored.
        vm.onFix(22.5787, 113.0815, 1_000, 5.0)
        assertEquals(0, vm.state.value.unsaved)
        val before = store.pendingCount()
        vm.start("夜间巡查")
        val patrol = assertNotNull(vm.state.value.current)
        // 25 fixes walking north, about 11 m apart: two batches stored, five waiting.
        for (i in 0 until 25) vm.onFix(22.5787 + i * 0.0001, 113.0815, 2_000L + i * 5_000, 8.0)
        assertEquals(5, vm.state.value.unsaved)
        assertEquals(before + 3uL, store.pendingCount(), "the start and two batches")
        assertEquals(20, store.patrolTrack(patrol.id).size)
        // A new screen (the app was closed mid-patrol) picks the patrol up again.
        val again = PatrolViewModel(store, Dispatchers.Unconfined)
        again.open()
        assertEquals(patrol.id, again.state.value.current?.id)
        vm.end()
        assertNull(vm.state.value.current)
        assertEquals(25, store.patrolTrack(patrol.id).size, "the last five stored before the end")
        val ended = vm.state.value.history.first { it.id == patrol.id }
        assertNotNull(ended.endedAt)
        assertTrue(ended.distanceM in 250.0..290.0, "24 steps of ~11.1 m: ${ended.distanceM}")
        assertEquals(before + 5uL, store.pendingCount(), "start, three batches, end")
        assertNull(vm.state.value.error)
    }
}
