package org.gridline.app.shared

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.withContext
import org.gridline.ffi.ApiException
import org.gridline.ffi.GridlineStore

/** What became of a photo a form tried to keep. */
sealed interface PhotoOutcome {
    /** Kept on the device under this hash (uploaded by sync once a saved record names it). */
    data class Kept(val hash: String) : PhotoOutcome

    /** Not an accepted image (type, content or size): the reason, shown under the photos. */
    data class Refused(val reason: String) : PhotoOutcome

    /** Something else went wrong: the text for the screen. */
    data class Failed(val message: String) : PhotoOutcome
}

/** Keeps a photo taken or picked on a form (JPEG, PNG or WebP, at most 10 MB). */
suspend fun GridlineStore.keepPhoto(mime: String, bytes: ByteArray, io: CoroutineDispatcher): PhotoOutcome = try {
    PhotoOutcome.Kept(withContext(io) { addPhoto(mime, bytes) })
} catch (e: ApiException.Validation) {
    PhotoOutcome.Refused(e.reason)
} catch (e: ApiException) {
    PhotoOutcome.Failed(e.userMessage())
}

/** Forgets a photo taken off a form before it was saved; the text for the screen if that failed. */
suspend fun GridlineStore.forgetPhoto(hash: String, io: CoroutineDispatcher): String? = try {
    withContext(io) { discardPhoto(hash) }
    null
} catch (e: ApiException) {
    e.userMessage()
}

/** A form's state that holds photos: what the shared photo handling below reads and sets. */
interface PhotoForm<T : PhotoForm<T>> {
    /** Photo hashes on the form, in the order taken. */
    val photos: List<String>

    /** Error text by field ("photos" for a refused photo). */
    val fieldErrors: Map<String, String>

    /** An error not tied to a field. */
    val error: String?

    /** This state with the photo fields replaced. */
    fun withPhotos(photos: List<String>, fieldErrors: Map<String, String>, error: String?): T
}

/**
 * Keeps a photo on the form: the new hash appended once, or the refusal under "photos", or
 * the error text; nothing else on the form changes.
 */
suspend fun <T : PhotoForm<T>> MutableStateFlow<T>.keepPhoto(store: GridlineStore, mime: String, bytes: ByteArray, io: CoroutineDispatcher) {
    val outcome = store.keepPhoto(mime, bytes, io)
    update { s ->
        when (outcome) {
            is PhotoOutcome.Kept ->
                s.withPhotos(if (outcome.hash in s.photos) s.photos else s.photos + outcome.hash, s.fieldErrors - "photos", s.error)
            is PhotoOutcome.Refused -> s.withPhotos(s.photos, s.fieldErrors + ("photos" to outcome.reason), s.error)
            is PhotoOutcome.Failed -> s.withPhotos(s.photos, s.fieldErrors, outcome.message)
        }
    }
}

/** Takes a photo off the form; the device forgets it unless something saved uses it. */
suspend fun <T : PhotoForm<T>> MutableStateFlow<T>.removePhoto(store: GridlineStore, hash: String, io: CoroutineDispatcher) {
    update { it.withPhotos(it.photos - hash, it.fieldErrors, it.error) }
    store.forgetPhoto(hash, io)?.let { message -> update { it.withPhotos(it.photos, it.fieldErrors, message) } }
}
