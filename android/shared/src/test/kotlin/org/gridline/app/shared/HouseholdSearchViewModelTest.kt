package org.gridline.app.shared

import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking

class HouseholdSearchViewModelTest {
    private val store = workerStore()
    private val vm = HouseholdSearchViewModel(store, Dispatchers.Unconfined)

    @Test
    fun findsHouseholdsByChineseNameFragment() = runBlocking {
        val id = store.addHousehold("欧阳明辉", phone = "13800138000")
        vm.onQueryChanged("明辉")
        assertEquals(listOf(id), vm.state.value.hits.map { it.id })
        assertNull(vm.state.value.error)
    }

    @Test
    fun blankQueryClearsTheList() = runBlocking {
        store.addHousehold("欧阳明辉")
        vm.onQueryChanged("欧阳")
        assertEquals(1, vm.state.value.hits.size)
        vm.onQueryChanged("  ")
        assertTrue(vm.state.value.hits.isEmpty())
    }
}
