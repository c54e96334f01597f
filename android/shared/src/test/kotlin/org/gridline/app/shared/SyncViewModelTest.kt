package org.gridline.app.shared

import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import org.gridline.ffi.GridlineStore

class SyncViewModelTest {
    @Test
    fun countsPendingChanges() = runBlocking {
        val store = workerStore()
        store.addHousehold("王五")
        val vm = SyncViewModel(store, "http://127.0.0.1:9", Dispatchers.Unconfined)
        vm.refresh()
        assertEquals(2uL, vm.state.value.pending)
    }

    @Test
    fun notSignedInShowsTheLoginMessage() = runBlocking {
        val vm = SyncViewModel(GridlineStore.openInMemory(), "http://127.0.0.1:9", Dispatchers.Unconfined)
        vm.syncNow()
        assertFalse(vm.state.value.running)
        assertEquals("请重新登录：本机尚未登录，请先登录", vm.state.value.line)
    }
}
