# Reference values for nadaraya's statistics, from R (KernSmooth, locfit, stats).
#
#   Rscript tests/r/fixtures.R [outdir]      (default tests/r/fixtures)
#
# Writes one JSON file per topic; each records the R and package versions.
# tests/test_r_reference.py checks nadaraya against these files, and (when R is
# installed) re-runs this script and checks that it reproduces them.
suppressPackageStartupMessages({
  library(KernSmooth); library(locfit); library(MASS); library(quantreg)
})
args <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(args)) args[1] else "tests/r/fixtures"
dir.create(outdir, showWarnings = FALSE, recursive = TRUE)

# ---- a small JSON writer (17 significant digits: doubles round-trip) ----
js <- function(v) {
  if (is.null(v)) return("null")
  if (is.list(v)) {
    if (!is.null(names(v)) && all(names(v) != "")) {
      parts <- vapply(names(v), function(k) paste0('"', k, '": ', js(v[[k]])), "")
      return(paste0("{", paste(parts, collapse = ", "), "}"))
    }
    return(paste0("[", paste(vapply(v, js, ""), collapse = ", "), "]"))
  }
  if (is.matrix(v)) return(js(lapply(seq_len(nrow(v)), function(i) as.vector(v[i, ]))))
  if (is.factor(v)) v <- as.character(v)
  if (is.character(v)) s <- paste0('"', v, '"')
  else if (is.logical(v)) s <- ifelse(v, "true", "false")
  else s <- ifelse(is.finite(v), sprintf("%.17g", v), ifelse(is.na(v), "null", ifelse(v > 0, "Infinity", "-Infinity")))
  if (length(v) == 1 && is.null(attr(v, "keep_array"))) s else paste0("[", paste(s, collapse = ", "), "]")
}
arr <- function(v) { attr(v, "keep_array") <- TRUE; v }
versions <- list(R = R.version.string, KernSmooth = as.character(packageVersion("KernSmooth")),
                 locfit = as.character(packageVersion("locfit")), MASS = as.character(packageVersion("MASS")),
                 quantreg = as.character(packageVersion("quantreg")))
write_json <- function(name, content) {
  writeLines(js(c(list(versions = versions), content)), file.path(outdir, paste0(name, ".json")))
}

# ---- data sets ----
data(engel, package = "quantreg")
frames <- list(cars = cars, faithful = faithful, mtcars = mtcars, mcycle = MASS::mcycle, engel = engel, iris = iris)
write_json("datasets", lapply(frames, function(f) lapply(as.list(f), arr)))

pairs <- list(cars = c("speed", "dist"), faithful = c("waiting", "eruptions"),
              mcycle = c("times", "accel"), engel = c("income", "foodexp"))
xy <- function(p) { f <- frames[[p]]; list(x = f[[pairs[[p]][1]]], y = f[[pairs[[p]][2]]]) }

# ---- Scott's rule: bw.nrd ----
write_json("scott", list(bw_nrd = lapply(pairs, function(cols) {
  f <- frames[[names(which(sapply(pairs, identical, cols)))]]
  list(x = bw.nrd(f[[cols[1]]]), y = bw.nrd(f[[cols[2]]]))
})))

# ---- exact weighted local polynomial by lm (the continuum limit of locpoly) ----
gauss_lp <- function(x, y, q, h, degree) {
  t(sapply(q, function(q0) {
    u <- x - q0
    w <- exp(-0.5 * (u / h)^2)
    X <- outer(u, 0:degree, `^`)
    coef(lm.wfit(X, y, w))
  }))
}
# the hat-matrix quantities of that fit at the data: tr H, tr H'H, ||l(q)||
gauss_hat <- function(x, h, degree, q = x) {
  L <- t(sapply(q, function(q0) {
    u <- x - q0; w <- exp(-0.5 * (u / h)^2)
    X <- outer(u, 0:degree, `^`)
    (MASS::ginv(crossprod(X * sqrt(w))) %*% t(X * w))[1, ]
  }))
  L
}

# ---- KernSmooth with the 4-sd kernel truncation lifted (tau) on a fine grid ----
untruncated <- function(fun, tau) {
  txt <- deparse(fun)
  hit <- grepl("^ *tau <- 4L?$", txt); stopifnot(sum(hit) == 1)
  txt[hit] <- paste0("    tau <- ", tau)
  f <- eval(parse(text = txt))
  environment(f) <- asNamespace("KernSmooth")
  f
}
ks_env <- new.env(parent = asNamespace("KernSmooth"))
for (fn in c("locpoly", "sdiag", "sstdiag")) assign(fn, untruncated(get(fn, asNamespace("KernSmooth")), 10), envir = ks_env)
dpill_untruncated <- KernSmooth::dpill
environment(dpill_untruncated) <- ks_env

# dpill computed exactly: the same steps with sums over the data instead of bins
dpill_exact <- function(x, y, blockmax = 5, divisor = 20, trim = 0.01, proptrun = 0.05) {
  o <- order(x); x <- x[o]; y <- y[o]
  nt <- floor(trim * length(x)); x <- x[(nt + 1):(length(x) - nt)]; y <- y[(nt + 1):(length(y) - nt)]
  n <- length(x); a <- min(x); b <- max(x)
  Nmax <- max(min(floor(n / divisor), blockmax), 1)
  Nval <- KernSmooth:::cpblock(x, y, Nmax, 4)
  est <- KernSmooth:::blkest(x, y, Nval, 4)
  gamseh <- est$sigsqe * (b - a) / (abs(est$th24e) * n)
  gamseh <- if (est$th24e < 0) (3 * gamseh / (8 * sqrt(pi)))^(1/7) else (15 * gamseh / (16 * sqrt(pi)))^(1/7)
  inner <- x >= a + proptrun * (b - a) & x <= b - proptrun * (b - a)
  m2 <- 2 * gauss_lp(x, y, x[inner], gamseh, 3)[, 3]
  th22 <- sum(m2^2) / n
  C3K <- (4 * ((1/2) + 2 * sqrt(2) - (4/3) * sqrt(3)) / sqrt(2 * pi))^(1/9)
  lamseh <- C3K * ((est$sigsqe^2) * (b - a) / ((th22 * n)^2))^(1/9)
  L <- gauss_hat(x, lamseh, 1)
  rss <- sum((y - L %*% y)^2)
  sigsq <- rss / (n - 2 * sum(diag(L)) + sum(L^2))
  list(h = (sigsq * (b - a) / (2 * sqrt(pi) * th22 * n))^(1/5), Nval = Nval, sigsqQ = est$sigsqe,
       th24Q = est$th24e, gamseh = gamseh, th22 = th22, lamseh = lamseh, sigsq = sigsq)
}
write_json("plugin", lapply(pairs, function(cols) {
  d <- xy(names(which(sapply(pairs, identical, cols))))
  c(list(dpill = dpill(d$x, d$y),
         dpill_untruncated_fine = dpill_untruncated(d$x, d$y, gridsize = 40001L)),
    exact = list(dpill_exact(d$x, d$y)))
}))

# ---- local polynomials of order 0..3 and their derivatives (locpoly drv = k is k! beta_k) ----
lp_cases <- list(list(data = "cars", h = 2.5), list(data = "mcycle", h = 2.0), list(data = "faithful", h = 4.0))
write_json("locpoly", list(cases = lapply(lp_cases, function(cs) {
  d <- xy(cs$data)
  q <- seq(min(d$x), max(d$x), length.out = 25)
  fits <- lapply(0:3, function(p) {
    B <- gauss_lp(d$x, d$y, q, cs$h, p)
    if (p == 0) B <- matrix(B, ncol = 1)
    arr_rows <- lapply(0:p, function(k) arr(factorial(k) * B[, k + 1]))
    names(arr_rows) <- paste0("drv", 0:p)
    arr_rows
  })
  names(fits) <- paste0("degree", 0:3)
  # KernSmooth itself (binned, truncation lifted, fine grid) at its grid points, degree 3 drv 1
  ks <- get("locpoly", ks_env)(d$x, d$y, drv = 1L, degree = 3, bandwidth = cs$h, gridsize = 4001L)
  pick <- seq(1, 4001, by = 400)
  list(data = cs$data, h = cs$h, queries = arr(q), fits = fits,
       kernsmooth_deg3_drv1 = list(x = arr(ks$x[pick]), y = arr(ks$y[pick])))
})))

# ---- locfit: adaptive nearest-neighbour bandwidths, residual variance, standard errors ----
nn_cases <- list(
  list(data = "cars", nn = 0.3, h = 0, deg = 1, kern = "gauss"),
  list(data = "cars", nn = 0.7, h = 5, deg = 0, kern = "gauss"),
  list(data = "mcycle", nn = 0.2, h = 0, deg = 2, kern = "gauss"),
  list(data = "mcycle", nn = 1.5, h = 0, deg = 1, kern = "gauss"),
  list(data = "faithful", nn = 0.35, h = 0, deg = 1, kern = "tcub"),
  list(data = "mcycle", nn = 0.4, h = 3, deg = 1, kern = "tcub"),
  list(data = "cars", nn = 0, h = 7.5, deg = 1, kern = "gauss"),
  list(data = "mcycle", nn = 0, h = 6, deg = 0, kern = "gauss"))
write_json("locfit", list(cases = lapply(nn_cases, function(cs) {
  d <- xy(cs$data)
  q <- seq(min(d$x) - 1, max(d$x) + 1, length.out = 17)
  fd <- locfit(d$y ~ lp(d$x, nn = cs$nn, h = cs$h, deg = cs$deg), kern = cs$kern, ev = dat())
  at_data <- predict(fd, where = "data", se.fit = TRUE)
  fq <- locfit(d$y ~ lp(d$x, nn = cs$nn, h = cs$h, deg = cs$deg), kern = cs$kern, ev = q)
  at_q <- predict(fq, where = "ev", se.fit = TRUE)
  c(cs, list(queries = arr(q), fit_data = arr(as.vector(at_data$fit)), se_data = arr(as.vector(at_data$se.fit)),
             residual_scale = at_data$residual.scale, rv = as.numeric(rv(fd)),
             df = arr(as.numeric(fd$dp[c("df1", "df2")])),
             fit_queries = arr(as.vector(at_q$fit)), l_norm_queries = arr(as.vector(at_q$se.fit / at_q$residual.scale))))
})))
# ---- locfit's derivatives (deriv = k: k! beta_k, its basis being (x - t)^j / j!) next to the exact weighted
# least squares (lm.wfit). At degree >= 2 locfit solves its normal equations by a Jacobi eigen-decomposition
# (m_eigen.c) whose rotation angle, sqrt((1 - cos 2t) / 2), cancels for small off-diagonals and which stops at
# |r_ij| <= 3.2e-8: its coefficients carry that solver's error (1.6e-5 for cars, h = 2.65, deg 3, deriv 1) ----
deriv_cases <- list(list(data = "cars", h = 2.65, deg = 3), list(data = "cars", h = 2.65, deg = 2),
                    list(data = "mcycle", h = 5, deg = 3), list(data = "faithful", h = 10, deg = 2),
                    list(data = "mcycle", h = 5, deg = 1))
write_json("locfit_deriv", list(cases = lapply(deriv_cases, function(cs) {
  d <- xy(cs$data)
  q <- seq(min(d$x), max(d$x), length.out = 17)
  B <- gauss_lp(d$x, d$y, q, cs$h / 2.5, cs$deg)  # locfit's gauss kernel is exp(-(2.5 u)^2 / 2)
  lf <- lapply(0:cs$deg, function(k) {
    fk <- locfit(d$y ~ lp(d$x, h = cs$h, deg = cs$deg), kern = "gauss", ev = q, deriv = if (k) rep(1, k) else NULL)
    arr(as.vector(predict(fk, where = "ev")))
  })
  names(lf) <- paste0("drv", 0:cs$deg)
  exact <- lapply(0:cs$deg, function(k) arr(factorial(k) * B[, k + 1]))
  names(exact) <- paste0("drv", 0:cs$deg)
  c(cs, list(queries = arr(q), locfit = lf, exact = exact))
})))
cat("wrote", outdir, "\n")

# ---- AICc and GCV of local constant / linear fits (exact hat matrices), and their global minima ----
criteria_at <- function(x, y, h, degree) {
  L <- gauss_hat(x, h, degree)
  n <- length(y); rss <- sum((y - L %*% y)^2); tr <- sum(diag(L))
  aicc <- if (tr + 2 < n) log(rss / n) + (1 + tr / n) / (1 - (tr + 2) / n) else Inf
  c(rss = rss, trace = tr, trace2 = sum(L^2), aicc = aicc, gcv = n * rss / (n - tr)^2)
}
global_min <- function(x, y, deg, name, lo, hi, grid_values) {
  grid <- exp(seq(log(lo), log(hi), length.out = ncol(grid_values)))
  v <- grid_values[name, ]; i <- which.min(v)
  fun <- function(t) criteria_at(x, y, exp(t), deg)[[name]]
  o <- optimize(fun, log(grid[c(max(i - 1, 1), min(i + 1, length(grid)))]), tol = 1e-10)
  list(h = exp(o$minimum), value = o$objective)
}
crit_cases <- list(list(data = "cars"), list(data = "mcycle"), list(data = "faithful"))
write_json("criteria", list(cases = lapply(crit_cases, function(cs) {
  d <- xy(cs$data); s <- sd(d$x)
  hs <- s * c(0.05, 0.1, 0.2, 0.5, 1)
  res <- lapply(0:1, function(deg) {
    at <- t(sapply(hs, function(h) criteria_at(d$x, d$y, h, deg)))
    grid_values <- sapply(exp(seq(log(s / 30), log(10 * s), length.out = 80)), function(h) criteria_at(d$x, d$y, h, deg))
    list(rss = arr(at[, "rss"]), trace = arr(at[, "trace"]), trace2 = arr(at[, "trace2"]),
         aicc = arr(at[, "aicc"]), gcv = arr(at[, "gcv"]),
         aicc_min = global_min(d$x, d$y, deg, "aicc", s / 30, 10 * s, grid_values),
         gcv_min = global_min(d$x, d$y, deg, "gcv", s / 30, 10 * s, grid_values))
  })
  names(res) <- c("degree0", "degree1")
  c(cs, list(h = arr(hs)), res)
})))

# ---- simultaneous bands: locfit's tube constants and critical values (kappa0, as scb uses them).
# locfit integrates kappa0 by Simpson's rule on its evaluation grid: the default lfgrid(20) is recorded,
# and lfgrid(1000), converged to ~1e-7, is the reference ----
tube_cases <- list(list(data = "cars", h = 7.5, deg = 1), list(data = "mcycle", h = 6, deg = 2),
                   list(data = "faithful", h = 10, deg = 0), list(data = "cars", h = 4, deg = 2))
write_json("tube", list(cases = lapply(tube_cases, function(cs) {
  d <- xy(cs$data); x <- d$x; y <- d$y
  k20 <- kappa0(y ~ lp(x, h = cs$h, deg = cs$deg), kern = "gauss", cov = 0.95)
  k200 <- kappa0(y ~ lp(x, h = cs$h, deg = cs$deg), kern = "gauss", cov = 0.95, ev = lfgrid(1000))
  k99 <- kappa0(y ~ lp(x, h = cs$h, deg = cs$deg), kern = "gauss", cov = 0.99, ev = lfgrid(1000))
  c(cs, list(const = arr(k20$const), crit = k20$crit.val, const_fine = arr(k200$const), crit_fine = k200$crit.val,
             crit99 = k99$crit.val))
})))
