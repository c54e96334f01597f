package org.gridline.ffi.test

import java.io.File
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit

/** A `gridline-server demo` process on an ephemeral port with its own temp data dir. */
class DemoServer(binary: File) : AutoCloseable {
    private val process: Process
    private val output = StringBuffer()

    /** Base URL, e.g. `http://127.0.0.1:40123`. */
    val url: String

    init {
        check(binary.isFile) { "$binary missing: build it with `cargo build -p gridline-server`" }
        val dataDir = tempDir("gridline-server-")
        process = ProcessBuilder(
            binary.path, "demo", "--data-dir", dataDir.path, "--listen", "127.0.0.1:0", "--households", "10",
        ).redirectErrorStream(true).apply { environment()["NO_COLOR"] = "1" }.start()
        val listening = Regex("""serving.*addr=(\S+)""")
        val ansi = Regex("\u001b\\[[0-9;]*m")
        var found: String? = null
        val ready = CountDownLatch(1)
        Thread {
            process.inputStream.bufferedReader().forEachLine { line ->
                output.append(line).append('\n')
                if (found == null) {
                    listening.find(ansi.replace(line, ""))?.let { found = it.groupValues[1]; ready.countDown() }
                }
            }
            ready.countDown()
        }.apply { isDaemon = true }.start()
        // Seeding the demo city in a debug build takes a while on a busy machine.
        ready.await(300, TimeUnit.SECONDS)
        url = found?.let { "http://$it" } ?: run {
            close()
            error("gridline-server did not start:\n$output")
        }
    }

    override fun close() {
        process.destroy()
        if (!process.waitFor(30, TimeUnit.SECONDS)) process.destroyForcibly().waitFor()
    }

    companion object {
        /** The demo city's logins (sync-server/src/demo.rs). */
        const val WORKER = "gridworker"
        const val WORKER_PASSWORD = "Grid#2024"
        const val SUPERVISOR = "supervisor"
        const val SUPERVISOR_PASSWORD = "Super#2024"
    }
}
