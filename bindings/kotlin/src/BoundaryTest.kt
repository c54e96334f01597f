// The core through the generated Kotlin bindings on the JVM: the register, incidents, search,
// typed errors, a Rust panic that comes back as an exception, and login + sync against a real
// gridline-server with a progress listener and cancellation.
package org.gridline.ffi.test

import java.io.File
import java.util.concurrent.CopyOnWriteArrayList
import org.gridline.ffi.*

private const val GRID = "JM-PJ-G01"
private const val OTHER_GRID = "JM-PJ-G02"

private fun area(id: String, parent: String?, kind: String, name: String) =
    Area(id = id, version = 0, parentId = parent, kind = kind, code = id, name = name)

/** A file store with a small area tree and a grid worker of [GRID], as after a first sync. */
private fun workerStore(dir: File): GridlineStore =
    GridlineStore.open(File(dir, "device.sqlite").path).apply {
        seedReference(
            ReferenceData(
                areas = listOf(
                    area("JM", null, "city", "江门市"),
                    area("JM-PJ", "JM", "district", "蓬江区"),
                    area(GRID, "JM-PJ", "grid", "白沙第一网格"),
                    area(OTHER_GRID, "JM-PJ", "grid", "白沙第二网格"),
                ),
                departments = listOf(Department(id = "urban_mgmt", version = 0, code = "urban_mgmt", name = "城市管理和综合执法局")),
            ),
        )
        setPrincipal(Principal(userId = "u-worker", role = Role.GRID_WORKER, scope = Scope(areaIds = listOf(GRID))))
    }

/** Collects progress reports: a Kotlin implementation of the Rust `SyncListener` trait. */
private class ProgressLog(private val onEach: (Progress) -> Unit = {}) : SyncListener {
    val reports = CopyOnWriteArrayList<Progress>()
    override fun onProgress(progress: Progress) {
        reports += progress
        onEach(progress)
    }
}

fun boundaryTests(suite: Suite, serverBinary: File) {
    suite.test("register, incident and Chinese search") {
        workerStore(tempDir("gl-kt-")).use { store ->
            val building = store.createBuilding(NewBuilding(gridId = GRID, name = "翠苑小区3栋", address = "蓬江区白沙大道18号", floors = 6u))
            checkEquals(6L, building.floors, "floors")
            check(building.headUserId == null) { "no building head yet" }
            val household = store.createHousehold(
                NewHousehold(buildingId = building.id, room = "502", headName = "欧阳明辉", phone = "13800138000", memberCount = 3u, careTags = listOf("elderly_alone")),
            )
            val resident = store.createResident(NewResident(householdId = household.id, name = "欧阳晓燕", idNumber = idNumber("44070319850312002"), relation = "配偶"))
            checkEquals("1985-03-12", resident.birthDate, "birth date taken from the ID number")
            val batch = store.createHouseholds((1..3).map { NewHousehold(buildingId = building.id, room = "60$it", headName = "陈$it", memberCount = 1u) })
            checkEquals(4, store.householdsInBuilding(building.id).size, "households in the building")

            val incident = store.reportIncident(NewIncident(category = "safety_hazard", householdId = household.id, description = "楼道堆放杂物"))
            checkEquals(IncidentStatus.REPORTED, incident.status, "status")
            checkEquals("待派遣", incidentStatusLabel(incident.status), "status label")
            checkEquals(listOf(EventKind.REPORTED), store.incidentTimeline(incident.id).map { it.kind }, "timeline")
            checkEquals(listOf(incident.id), store.incidents(IncidentFilter(statuses = listOf(IncidentStatus.REPORTED))).map { it.id }, "filtered list")

            val hits = store.search("欧阳", 10u)
            checkEquals(setOf(HitKind.HOUSEHOLD to household.id, HitKind.RESIDENT to resident.id), hits.map { it.kind to it.id }.toSet(), "search 欧阳")
            checkEquals(MatchField.PHONE, store.search("8001", 10u).first().matched, "phone fragment")
            check(store.search("白沙大道", 10u).all { it.householdId in batch + household.id }) { "address search" }
            checkEquals(7uL, store.pendingCount(), "ops waiting in the outbox")
            checkEquals(null, store.syncStatus().lastSuccessAt, "never synced")
        }
    }

    suite.test("patrols, visits and patches") {
        workerStore(tempDir("gl-kt-")).use { store ->
            val building = store.createBuilding(NewBuilding(gridId = GRID, name = "翠苑小区5栋", address = "白沙大道20号"))
            val household = store.createHousehold(NewHousehold(buildingId = building.id, room = "101", headName = "张三", phone = "13700137000", memberCount = 2u))
            val patched = store.updateHousehold(household.id, HouseholdPatch(memberCount = 3u, phone = ""))
            checkEquals(3L, patched.memberCount, "member count")
            checkEquals(null, patched.phone, "phone removed")

            var patrol = store.startPatrol(GRID, "夜间巡查")
            patrol = store.addPatrolPoints(patrol.id, listOf(GpsPoint(lat = 22.58, lng = 113.08, at = 1_000), GpsPoint(lat = 22.5809, lng = 113.08, at = 61_000)))
            check(patrol.distanceM in 90.0..110.0) { "distance ${patrol.distanceM}" }
            check(store.endPatrol(patrol.id).endedAt != null) { "ended" }

            val visit = store.recordVisit(NewVisit(householdId = household.id, purpose = "关爱探访", raiseIncident = NewIncident(category = "resident_request", description = "需要助餐服务")))
            checkEquals(household.id, visit.incidentId?.let { store.incident(it).householdId }, "incident raised by the visit")
            check(careTags().any { it.code == "elderly_alone" && it.label == "独居老人" }) { "care tags" }
        }
    }

    suite.test("bad input throws sealed ApiException subclasses with readable reasons") {
        workerStore(tempDir("gl-kt-")).use { store ->
            val building = store.createBuilding(NewBuilding(gridId = GRID, name = "翠苑小区6栋", address = "白沙大道22号"))
            val before = store.pendingCount()
            val bad = expectThrows<ApiException.Validation> {
                store.createHousehold(NewHousehold(buildingId = building.id, room = "1", headName = "李四", phone = "12345", memberCount = 1u))
            }
            checkEquals("phone", bad.field, "field")
            check("手机号码" in bad.reason) { "reason: ${bad.reason}" }
            val outside = expectThrows<ApiException.PermissionDenied> {
                store.createBuilding(NewBuilding(gridId = OTHER_GRID, name = "外楼", address = "某路1号"))
            }
            checkEquals("out_of_scope", outside.code, "code")
            val missing = expectThrows<ApiException.NotFound> { store.household("no-such-id") }
            checkEquals(EntityKind.HOUSEHOLD, missing.entity, "entity")
            // Exhaustive `when` over the sealed class: the compiler checks every case is handled.
            val shown = when (val e: ApiException = bad) {
                is ApiException.Validation -> "${e.field}: ${e.reason}"
                is ApiException.PermissionDenied -> e.reason
                is ApiException.NotFound -> "未找到"
                is ApiException.Conflict -> e.reason
                is ApiException.Auth -> e.reason
                is ApiException.Network -> "网络不可用"
                is ApiException.Server -> e.reason
                is ApiException.Cancelled -> "已取消"
                is ApiException.Storage -> "存储错误"
                is ApiException.Internal -> "内部错误"
            }
            check(shown.startsWith("phone: ")) { shown }
            checkEquals(before, store.pendingCount(), "nothing written by refused calls")
        }
    }

    suite.test("a Rust panic inside core comes back as ApiException.Internal") {
        workerStore(tempDir("gl-kt-")).use { store ->
            val e = expectThrows<ApiException.Internal> { store.diagnosticPanic() }
            check("diagnostic panic" in e.reason) { e.reason }
            // The store is still usable.
            store.createBuilding(NewBuilding(gridId = GRID, name = "恢复测试楼", address = "白沙大道30号"))
            checkEquals(1, store.buildingsInGrid(GRID).size, "buildings after the panic")
        }
    }

    val demo = runCatching { DemoServer(serverBinary) }.getOrElse { e ->
        suite.test("start gridline-server demo") { throw e }
        return
    }
    demo.use { server ->
        val dir = tempDir("gl-kt-sync-")
        suite.test("enroll, sync with progress, data arrives on another device") {
            GridlineStore.open(File(dir, "worker.sqlite").path).use { worker ->
                val who = worker.enroll(server.url, DemoServer.WORKER, DemoServer.WORKER_PASSWORD, "kotlin-test")
                checkEquals(Role.GRID_WORKER, who.role, "role")
                worker.sync(server.url)
                val grid = worker.myGrids().single()
                val building = worker.createBuilding(NewBuilding(gridId = grid.id, name = "Kotlin同步楼", address = "白沙大道101号"))
                val household = worker.createHousehold(NewHousehold(buildingId = building.id, room = "1201", headName = "司马同步", memberCount = 1u))
                val incident = worker.reportIncident(NewIncident(category = "environment", buildingId = building.id, description = "垃圾桶满溢"))

                val log = ProgressLog()
                val report = worker.sync(server.url, log, null)
                checkEquals(3uL, report.pushed, "pushed")
                checkEquals(0uL, worker.pendingCount(), "outbox empty")
                val pushes = log.reports.filter { it.phase == SyncPhase.PUSH }
                checkEquals(Progress(SyncPhase.PUSH, done = 0uL, total = 3uL), pushes.first(), "first push report")
                checkEquals(3uL, pushes.last().done, "last push report")
                check(log.reports.any { it.phase == SyncPhase.PULL }) { "pull reported" }

                GridlineStore.open(File(dir, "supervisor.sqlite").path).use { sup ->
                    sup.enroll(server.url, DemoServer.SUPERVISOR, DemoServer.SUPERVISOR_PASSWORD, "kotlin-test-2")
                    sup.sync(server.url)
                    checkEquals("司马同步", sup.household(household.id).headName, "household on the second device")
                    checkEquals(listOf(household.id), sup.search("司马", 5u).map { it.id }, "search on the second device")
                    checkEquals(IncidentStatus.REPORTED, sup.incident(incident.id).status, "incident on the second device")
                }
            }
        }

        suite.test("cancelling from the progress listener stops the sync, the outbox stays") {
            GridlineStore.open(File(dir, "worker2.sqlite").path).use { worker ->
                worker.enroll(server.url, DemoServer.WORKER, DemoServer.WORKER_PASSWORD, "kotlin-test-3")
                worker.sync(server.url)
                worker.startPatrol(worker.myGrids().single().id, "取消测试")
                val token = SyncCancelToken()
                val log = ProgressLog { if (it.phase == SyncPhase.PUSH) token.cancel() }
                expectThrows<ApiException.Cancelled> { worker.sync(server.url, log, token) }
                check(token.isCancelled()) { "token cancelled" }
                checkEquals(1uL, worker.pendingCount(), "op still waiting")
                check(worker.syncStatus().lastError != null) { "last error recorded" }
                checkEquals(1uL, worker.sync(server.url).pushed, "sent by the next sync")
            }
        }

        suite.test("wrong password and unreachable server are typed errors") {
            GridlineStore.openInMemory().use { store ->
                expectThrows<ApiException.Auth> { store.enroll(server.url, DemoServer.WORKER, "wrong", "kotlin-test") }
                expectThrows<ApiException.Network> { store.enroll("http://127.0.0.1:9", DemoServer.WORKER, DemoServer.WORKER_PASSWORD, "kotlin-test") }
                checkEquals(null, store.principal(), "nobody enrolled")
            }
        }
    }
}
