"""The article's views and the work they do: where a reader of the article looks first."""
