// View models in plain Kotlin: no Android SDK, so they build and test on any JVM.
plugins {
    kotlin("jvm")
}

kotlin {
    jvmToolchain(17)
}

sourceSets {
    // The generated bindings (bindings/generate.sh); never committed.
    main {
        kotlin.srcDir("../../bindings/generated/kotlin")
    }
}

dependencies {
    // The app brings JNA as an Android archive; the JVM tests use the plain jar.
    compileOnly("net.java.dev.jna:jna:5.13.0")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.10.2")
    testImplementation("net.java.dev.jna:jna:5.13.0")
    testImplementation(kotlin("test-junit"))
}

tasks.test {
    // The host build of the Rust library (bindings/generate.sh).
    systemProperty("jna.library.path", rootDir.resolve("../target/debug").path)
}
