import Foundation
import GridlineFFI

/// What became of a photo a form tried to keep.
public enum PhotoOutcome: Equatable {
    /// Kept on the device under this hash (uploaded by sync once a saved record names it).
    case kept(String)
    /// Not an accepted image (type, content or size): the reason, shown under the photos.
    case refused(String)
    /// Something else went wrong: the text for the screen.
    case failed(String)
}

/// Keeps a photo taken or picked on a form (JPEG, PNG or WebP, at most 10 MB), off the main thread.
func keepPhoto(_ store: GridlineStore, mime: String, data: Data) async -> PhotoOutcome {
    do {
        return .kept(try await offMain { try store.addPhoto(mime: mime, data: data) })
    } catch let ApiError.Validation(_, reason) {
        return .refused(reason)
    } catch {
        return .failed(error.screenMessage)
    }
}

/// Forgets a photo taken off a form before it was saved; the text for the screen if that failed.
func forgetPhoto(_ store: GridlineStore, hash: String) async -> String? {
    do {
        _ = try await offMain { try store.discardPhoto(sha256: hash) }
        return nil
    } catch {
        return error.screenMessage
    }
}

/// Applies an outcome to a form's photos (a new hash appended once) and field errors (a refusal
/// under "photos"); returns the error text to show, if any.
func applyPhotoOutcome(_ outcome: PhotoOutcome, photos: inout [String], fieldErrors: inout [String: String]) -> String? {
    switch outcome {
    case let .kept(hash):
        if !photos.contains(hash) {
            photos.append(hash)
        }
        fieldErrors["photos"] = nil
        return nil
    case let .refused(reason):
        fieldErrors["photos"] = reason
        return nil
    case let .failed(message):
        return message
    }
}
