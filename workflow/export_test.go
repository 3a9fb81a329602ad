package workflow

// SetHistoryLimit lowers the history limit of w, so a test can reach it.
func SetHistoryLimit(w *Worker, n int) { w.maxHistory = n }
