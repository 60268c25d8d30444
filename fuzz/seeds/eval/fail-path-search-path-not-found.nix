<nonexistent-search-path-entry-xyz>
