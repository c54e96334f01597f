package org.gridline.app

import android.Manifest
import android.content.pm.PackageManager
import android.location.LocationListener
import android.location.LocationManager
import android.os.Bundle
import android.os.Looper
import androidx.activity.ComponentActivity
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.compose.setContent
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Button
import androidx.compose.material3.ListItem
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Scaffold
import androidx.compose.material3.ScrollableTabRow
import androidx.compose.material3.Switch
import androidx.compose.material3.Tab
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableIntStateOf
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.unit.dp
import androidx.core.content.ContextCompat
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.gridline.app.shared.HouseholdSearchViewModel
import org.gridline.app.shared.HouseholdVisitViewModel
import org.gridline.app.shared.IncidentReportViewModel
import org.gridline.app.shared.MyTasksViewModel
import org.gridline.app.shared.PatrolViewModel
import org.gridline.app.shared.SyncViewModel
import org.gridline.ffi.GridlineStore

/** The shell: a sync bar over five tabs: household search, household visit, incident report, patrol, my tasks. */
class MainActivity : ComponentActivity() {
    private val store by lazy { GridlineStore.open(filesDir.resolve("gridline.sqlite").path) }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val search = HouseholdSearchViewModel(store)
        val visit = HouseholdVisitViewModel(store)
        val report = IncidentReportViewModel(store)
        val tasks = MyTasksViewModel(store)
        val patrol = PatrolViewModel(store)
        val sync = SyncViewModel(store, BuildConfig.SERVER_URL)
        setContent { MaterialTheme { Home(search, visit, report, patrol, tasks, sync) } }
    }

    override fun onDestroy() {
        store.close()
        super.onDestroy()
    }
}

@Composable
private fun Home(
    search: HouseholdSearchViewModel,
    visit: HouseholdVisitViewModel,
    report: IncidentReportViewModel,
    patrol: PatrolViewModel,
    tasks: MyTasksViewModel,
    sync: SyncViewModel,
) {
    var tab by remember { mutableIntStateOf(0) }
    val scope = rememberCoroutineScope()
    Scaffold(topBar = { SyncBar(sync) }) { padding ->
        Column(Modifier.padding(padding)) {
            ScrollableTabRow(selectedTabIndex = tab) {
                Tab(selected = tab == 0, onClick = { tab = 0 }, text = { Text("户籍查询") })
                Tab(selected = tab == 1, onClick = { tab = 1 }, text = { Text("入户走访") })
                Tab(selected = tab == 2, onClick = { tab = 2 }, text = { Text("事件上报") })
                Tab(selected = tab == 3, onClick = { tab = 3 }, text = { Text("网格巡查") })
                Tab(selected = tab == 4, onClick = { tab = 4 }, text = { Text("我的任务") })
            }
            when (tab) {
                // Tapping a hit starts a visit to that household.
                0 -> SearchScreen(search) { householdId -> scope.launch { visit.open(householdId) }; tab = 1 }
                1 -> VisitScreen(visit)
                2 -> ReportScreen(report)
                3 -> PatrolScreen(patrol)
                else -> TasksScreen(tasks)
            }
        }
    }
}

@Composable
private fun SyncBar(vm: SyncViewModel) {
    val state by vm.state.collectAsStateWithLifecycle()
    val scope = rememberCoroutineScope()
    Row(Modifier.padding(8.dp)) {
        Text("待同步 ${state.pending} 条  ${state.line}", Modifier.weight(1f))
        if (state.running) {
            Button(onClick = vm::cancel) { Text("取消") }
        } else {
            Button(onClick = { scope.launch { vm.syncNow() } }) { Text("同步") }
        }
    }
}

@Composable
private fun SearchScreen(vm: HouseholdSearchViewModel, onPick: (String) -> Unit) {
    val state by vm.state.collectAsStateWithLifecycle()
    val scope = rememberCoroutineScope()
    Column(Modifier.fillMaxSize().padding(8.dp)) {
        OutlinedTextField(
            value = state.query,
            onValueChange = { q -> scope.launch { vm.onQueryChanged(q) } },
            label = { Text("姓名、房号、地址或电话") },
        )
        state.error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        LazyColumn {
            items(state.hits, key = { it.id }) { hit ->
                ListItem(
                    headlineContent = { Text(hit.title) },
                    supportingContent = { Text(hit.detail) },
                    modifier = Modifier.clickable { onPick(hit.householdId) },
                )
            }
        }
    }
}

@Composable
private fun VisitScreen(vm: HouseholdVisitViewModel) {
    val state by vm.state.collectAsStateWithLifecycle()
    val scope = rememberCoroutineScope()
    Column(Modifier.fillMaxSize().padding(8.dp)) {
        if (state.householdId == null) {
            Text("请先在户籍查询中点选要走访的住户")
            return@Column
        }
        OutlinedTextField(value = state.purpose, onValueChange = vm::onPurpose, label = { Text("走访事由") })
        state.fieldErrors["purpose"]?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        OutlinedTextField(value = state.notes, onValueChange = vm::onNotes, label = { Text("走访记录") })
        state.fieldErrors["notes"]?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        OutlinedTextField(value = state.findings, onValueChange = vm::onFindings, label = { Text("发现问题") })
        state.fieldErrors["findings"]?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        Row {
            Text("同时上报事件", Modifier.weight(1f))
            Switch(checked = state.raiseIncident, onCheckedChange = vm::onRaiseIncident)
        }
        if (state.raiseIncident) {
            OutlinedTextField(value = state.incidentCategory, onValueChange = vm::onIncidentCategory, label = { Text("事件类别") })
            state.fieldErrors["category"]?.let { Text(it, color = MaterialTheme.colorScheme.error) }
            OutlinedTextField(value = state.incidentDescription, onValueChange = vm::onIncidentDescription, label = { Text("事件描述") })
            state.fieldErrors["description"]?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        }
        state.error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        Button(onClick = { scope.launch { vm.save() } }) { Text("保存走访") }
        state.savedVisitId?.let { Text(if (state.raisedIncidentId != null) "走访和事件已保存，将在下次同步时上报" else "走访已保存，将在下次同步时上报") }
        Text("走访记录", style = MaterialTheme.typography.titleSmall)
        LazyColumn {
            items(state.history, key = { it.id }) { v ->
                ListItem(headlineContent = { Text(v.purpose) }, supportingContent = { Text(v.findings.ifEmpty { v.notes }) })
            }
        }
    }
}

@Composable
private fun ReportScreen(vm: IncidentReportViewModel) {
    val state by vm.state.collectAsStateWithLifecycle()
    val scope = rememberCoroutineScope()
    Column(Modifier.fillMaxSize().padding(8.dp)) {
        OutlinedTextField(value = state.category, onValueChange = vm::onCategory, label = { Text("事件类别") })
        state.fieldErrors["category"]?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        OutlinedTextField(value = state.description, onValueChange = vm::onDescription, label = { Text("事件描述") })
        state.fieldErrors["description"]?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        PhotoRow(state.photos, onPicked = vm::onPhoto, onRemove = vm::removePhoto)
        state.fieldErrors["photos"]?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        state.error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        Button(onClick = { scope.launch { vm.submit() } }) { Text("上报") }
        state.reportedId?.let { Text("已保存，将在下次同步时上报") }
    }
}

/** A form's photos (现场照片): pick from the gallery or camera roll, take one off again. */
@Composable
private fun PhotoRow(
    photos: List<String>,
    onPicked: suspend (mime: String, bytes: ByteArray) -> Unit,
    onRemove: suspend (hash: String) -> Unit,
) {
    val scope = rememberCoroutineScope()
    val resolver = LocalContext.current.contentResolver
    val pick = rememberLauncherForActivityResult(ActivityResultContracts.PickVisualMedia()) { uri ->
        if (uri != null) {
            scope.launch {
                // Read off the main thread; the core checks type, signature and size.
                val (mime, bytes) = withContext(Dispatchers.IO) {
                    (resolver.getType(uri) ?: "") to (resolver.openInputStream(uri)?.use { it.readBytes() } ?: ByteArray(0))
                }
                onPicked(mime, bytes)
            }
        }
    }
    Column {
        photos.forEachIndexed { i, hash ->
            Row {
                Text("照片 ${i + 1}", Modifier.weight(1f))
                Button(onClick = { scope.launch { onRemove(hash) } }) { Text("移除") }
            }
        }
        Button(onClick = { pick.launch(PickVisualMediaRequest(ActivityResultContracts.PickVisualMedia.ImageOnly)) }) {
            Text("添加照片")
        }
    }
}

@Composable
private fun TasksScreen(vm: MyTasksViewModel) {
    val state by vm.state.collectAsStateWithLifecycle()
    val scope = rememberCoroutineScope()
    LaunchedEffect(Unit) { vm.refresh() }
    Column(Modifier.fillMaxSize().padding(8.dp)) {
        state.error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        val selected = state.items.firstOrNull { it.assignment.id == state.selectedId }
        if (selected != null && selected.open) {
            Text(selected.title, style = MaterialTheme.typography.titleMedium)
            if (selected.assignment.reviewNote.isNotEmpty()) {
                Text("退回原因：${selected.assignment.reviewNote}", color = MaterialTheme.colorScheme.error)
            }
            OutlinedTextField(value = state.evidenceText, onValueChange = vm::onEvidenceText, label = { Text("完成情况") })
            state.fieldErrors["evidence_text"]?.let { Text(it, color = MaterialTheme.colorScheme.error) }
            PhotoRow(state.photos, onPicked = vm::onPhoto, onRemove = vm::removePhoto)
            (state.fieldErrors["photos"] ?: state.fieldErrors["evidence_photos"])?.let { Text(it, color = MaterialTheme.colorScheme.error) }
            Button(onClick = { scope.launch { vm.submit() } }) { Text("提交") }
        }
        state.submittedId?.let { Text("已保存，将在下次同步时提交审核") }
        LazyColumn {
            items(state.items, key = { it.assignment.id }) { item ->
                ListItem(
                    headlineContent = { Text(item.title) },
                    supportingContent = { Text(item.statusLabel) },
                    modifier = Modifier.clickable { vm.select(item.assignment.id) },
                )
            }
        }
    }
}

@Composable
private fun PatrolScreen(vm: PatrolViewModel) {
    val state by vm.state.collectAsStateWithLifecycle()
    val scope = rememberCoroutineScope()
    val context = LocalContext.current
    var noGps by remember { mutableStateOf(false) }
    LaunchedEffect(Unit) { vm.open() }
    // Starting asks for location once; without it the patrol is still recorded, with no track.
    val permission = rememberLauncherForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        noGps = !granted
        scope.launch { vm.start() }
    }
    // While a patrol is under way, the phone's GPS fixes feed it (every 5 s or 5 m).
    val patrolling = state.current != null
    DisposableEffect(patrolling) {
        val manager = context.getSystemService(LocationManager::class.java)
        val listener = LocationListener { fix ->
            val accuracy = if (fix.hasAccuracy()) fix.accuracy.toDouble() else null
            scope.launch { vm.onFix(fix.latitude, fix.longitude, fix.time, accuracy) }
        }
        val allowed = ContextCompat.checkSelfPermission(context, Manifest.permission.ACCESS_FINE_LOCATION) ==
            PackageManager.PERMISSION_GRANTED
        if (patrolling && allowed) {
            manager.requestLocationUpdates(LocationManager.GPS_PROVIDER, 5_000L, 5f, listener, Looper.getMainLooper())
        }
        onDispose { manager.removeUpdates(listener) }
    }
    Column(Modifier.fillMaxSize().padding(8.dp)) {
        state.error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        if (noGps) Text("未获得定位权限：巡查照常记录，但没有轨迹", color = MaterialTheme.colorScheme.error)
        Text("网格：${state.grids.firstOrNull { it.id == state.gridId }?.name ?: "无"}")
        val current = state.current
        if (current == null) {
            Button(onClick = { permission.launch(Manifest.permission.ACCESS_FINE_LOCATION) }) { Text("开始巡查") }
        } else {
            Text("巡查中：已走 ${current.distanceM.toInt()} 米，${state.unsaved} 个定位点待保存")
            Button(onClick = { scope.launch { vm.end() } }) { Text("结束巡查") }
        }
        LazyColumn {
            items(state.history, key = { it.id }) { p ->
                ListItem(
                    headlineContent = { Text(if (p.endedAt == null) "进行中" else "${p.distanceM.toInt()} 米") },
                    supportingContent = { Text(p.note) },
                )
            }
        }
    }
}
