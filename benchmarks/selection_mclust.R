# mclustBIC over G = 1..max_g and all 14 models on one data set, timed in R.
#
# Usage: Rscript benchmarks/selection_mclust.R DATA.csv MAX_G REPEATS
#   DATA.csv: numeric matrix, no header, comma-separated (benchmarks/selection.py writes it).
# Prints "version <mclust version>", "times <seconds of each repeat>", then the BIC
# table of the last repeat (mclust's sign: higher is better; NA for singular fits)
# as CSV after a line "bic".
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages(library(mclust))
X <- as.matrix(read.csv(args[1], header = FALSE))
G <- seq_len(as.integer(args[2]))
repeats <- as.integer(args[3])
times <- numeric(repeats)
for (r in seq_len(repeats)) {
  t0 <- proc.time()[["elapsed"]]
  bic <- mclustBIC(X, G = G, verbose = FALSE)
  times[r] <- proc.time()[["elapsed"]] - t0
}
cat("version", as.character(packageVersion("mclust")), "\n")
cat("times", format(times, digits = 6), "\n")
cat("bic\n")
table <- matrix(bic, nrow = nrow(bic), dimnames = list(rownames(bic), colnames(bic)))
write.csv(table, stdout())
