package org.gridline.app.shared

import org.gridline.ffi.Area
import org.gridline.ffi.GridlineStore
import org.gridline.ffi.NewBuilding
import org.gridline.ffi.NewHousehold
import org.gridline.ffi.Principal
import org.gridline.ffi.ReferenceData
import org.gridline.ffi.Role
import org.gridline.ffi.Scope

const val GRID = "JM-PJ-G01"

/** An in-memory store with one grid and a grid worker in it, as after a first sync. */
fun workerStore(): GridlineStore = GridlineStore.openInMemory().apply {
    seedReference(
        ReferenceData(
            areas = listOf(
                Area(id = "JM", version = 0, parentId = null, kind = "city", code = "JM", name = "江门市"),
                Area(id = GRID, version = 0, parentId = "JM", kind = "grid", code = GRID, name = "白沙第一网格"),
            ),
        ),
    )
    setPrincipal(Principal(userId = "u-1", role = Role.GRID_WORKER, scope = Scope(areaIds = listOf(GRID))))
}

/** Adds a building with one household; returns the household's id. */
fun GridlineStore.addHousehold(head: String, phone: String? = null): String {
    val building = createBuilding(NewBuilding(gridId = GRID, name = "翠苑小区1栋", address = "白沙大道1号"))
    return createHousehold(NewHousehold(buildingId = building.id, room = "101", headName = head, phone = phone, memberCount = 1u)).id
}
