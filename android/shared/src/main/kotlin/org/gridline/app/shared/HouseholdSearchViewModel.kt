package org.gridline.app.shared

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.withContext
import org.gridline.ffi.ApiException
import org.gridline.ffi.GridlineStore
import org.gridline.ffi.SearchHit

/** What the household search screen shows. */
data class SearchUiState(
    val query: String = "",
    val hits: List<SearchHit> = emptyList(),
    val error: String? = null,
)

/** The household search screen (户籍查询): type a name, room, address or phone fragment. */
class HouseholdSearchViewModel(
    private val store: GridlineStore,
    private val io: CoroutineDispatcher = Dispatchers.IO,
) {
    private val _state = MutableStateFlow(SearchUiState())
    val state: StateFlow<SearchUiState> = _state.asStateFlow()

    /** Runs the search for [query]; a blank query clears the list. */
    suspend fun onQueryChanged(query: String) {
        if (query.isBlank()) {
            _state.value = SearchUiState(query = query)
            return
        }
        _state.value = try {
            SearchUiState(query = query, hits = withContext(io) { store.search(query, LIMIT) })
        } catch (e: ApiException) {
            SearchUiState(query = query, error = e.userMessage())
        }
    }

    private companion object {
        const val LIMIT = 50u
    }
}
