package org.gridline.app.shared

import kotlinx.coroutines.CoroutineDispatcher
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

/** [photos] with the outcome of keeping one more: the new hash appended once, or the refusal under "photos". */
fun PhotoOutcome.applyTo(
    photos: List<String>,
    fieldErrors: Map<String, String>,
    apply: (photos: List<String>, fieldErrors: Map<String, String>, error: String?) -> Unit,
) = when (this) {
    is PhotoOutcome.Kept -> apply(if (hash in photos) photos else photos + hash, fieldErrors - "photos", null)
    is PhotoOutcome.Refused -> apply(photos, fieldErrors + ("photos" to reason), null)
    is PhotoOutcome.Failed -> apply(photos, fieldErrors, message)
}
