package org.gridline.ffi.test

import java.io.File
import kotlin.system.exitProcess
import org.junit.runner.JUnitCore
import org.junit.runner.notification.Failure

/**
 * Runs the JVM boundary tests, then the JUnit classes named after the server binary (the
 * Android shell's view model tests). Args: `<gridline-server binary> [JUnit class …]`.
 * Prints one closing line `kotlin: N passed, N failed` and exits non-zero on any failure.
 */
fun main(args: Array<String>) {
    val server = File(args.getOrElse(0) { "target/debug/gridline-server" })
    val suite = Suite("bindings")
    boundaryTests(suite, server)

    val classes = args.drop(1).map { Class.forName(it) }
    val junit = JUnitCore.runClasses(*classes.toTypedArray())
    junit.failures.forEach { f: Failure ->
        println("  FAIL  view models: ${f.testHeader}: ${f.exception}")
        f.exception.stackTrace.take(6).forEach { println("          at $it") }
    }
    val junitPassed = junit.runCount - junit.failureCount
    println("  view models: ${classes.size} JUnit classes, $junitPassed passed, ${junit.failureCount} failed")

    val passed = suite.passed + junitPassed
    val failed = suite.failed + junit.failureCount
    println("kotlin: $passed passed, $failed failed")
    exitProcess(if (failed == 0 && passed > 0) 0 else 1)
}
