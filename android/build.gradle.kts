plugins {
    id("com.android.application") version "8.7.3" apply false
    kotlin("android") version "2.4.20" apply false
    kotlin("jvm") version "2.4.20" apply false
    kotlin("plugin.compose") version "2.4.20" apply false
}
