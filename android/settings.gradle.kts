// The Android shell: `app` (Compose screens) over `shared` (plain-Kotlin view models that
// compile and are tested on the JVM against the generated bindings; see docs/bindings.md).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "gridline-android"
include(":shared", ":app")
