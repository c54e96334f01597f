// A minimal test runner for the JVM boundary tests: no test framework, so the one kotlinc
// invocation of scripts/test-bindings needs nothing beyond the generated bindings and JNA.
package org.gridline.ffi.test

import java.io.File
import java.nio.file.Files

/** Counts checks by test and prints failures with their cause. */
class Suite(private val label: String) {
    var passed = 0
        private set
    var failed = 0
        private set

    /** Runs one test; any throwable fails it. */
    fun test(name: String, body: () -> Unit) {
        try {
            body()
            passed++
            println("  ok    $label: $name")
        } catch (t: Throwable) {
            failed++
            println("  FAIL  $label: $name: $t")
            t.stackTrace.take(6).forEach { println("          at $it") }
        }
    }
}

/** Fails the current test unless [condition] holds. */
fun check(condition: Boolean, message: () -> String) {
    if (!condition) throw AssertionError(message())
}

/** Fails unless [actual] equals [expected]. */
fun <T> checkEquals(expected: T, actual: T, what: String) {
    if (expected != actual) throw AssertionError("$what: expected <$expected>, got <$actual>")
}

/** Runs [body], which must throw an [E]; returns it for further checks. */
inline fun <reified E : Throwable> expectThrows(body: () -> Unit): E {
    try {
        body()
    } catch (e: Throwable) {
        if (e is E) return e
        throw AssertionError("expected ${E::class.simpleName}, got $e", e)
    }
    throw AssertionError("expected ${E::class.simpleName}, nothing was thrown")
}

/** A fresh temp dir, removed when the JVM exits. */
fun tempDir(prefix: String): File =
    Files.createTempDirectory(prefix).toFile().also { dir -> Runtime.getRuntime().addShutdownHook(Thread { dir.deleteRecursively() }) }

/** A resident ID number with its ISO 7064 MOD 11-2 check character. */
fun idNumber(body17: String): String {
    val weights = intArrayOf(7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    val sum = body17.mapIndexed { i, c -> c.digitToInt() * weights[i] }.sum()
    return body17 + "10X98765432"[sum % 11]
}
