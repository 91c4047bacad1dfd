"""Policy lists shared by the static audit and the runtime guards.

Everything here is a module-level frozenset (or read-only mapping) so that
the policy is data, can be reviewed in one place and cannot be changed at run
time by accident.  The lists
are deny-by-default where possible: the audit accepts only the AST node types
in ``ALLOWED_NODES`` and only the imports in the allow-list.
"""
import ast
import functools
import types

#: Entry point every synthesis program defines.
ENTRY_POINT = "generate_hard_anomalies"
#: Positional parameters of the entry point (``degree`` is optional, 4th).
ENTRY_PARAMS = ("n_samples", "model", "X_train")
DEGREE_PARAM = "degree"

#: Imports always allowed: pure computation, no I/O.
BASE_IMPORTS = frozenset({"numpy", "math"})
#: Reviewed extra modules that real LLM-written programs use.  Each was read
#: for file, process, clock, entropy and native entry points; a program
#: reaches only the names listed for it in ``MODULE_ATTRIBUTES``.  ``random``
#: is here because the worker seeds it (and seeds ``seed()``/``Random()``).
REVIEWED_IMPORTS = frozenset({
    "random", "statistics", "warnings",
    "scipy.spatial", "scipy.spatial.distance", "scipy.stats", "scipy.optimize", "scipy.special",
    "sklearn.neighbors", "sklearn.cluster", "sklearn.decomposition", "sklearn.covariance",
    "sklearn.ensemble", "sklearn.preprocessing", "sklearn.mixture",
})
#: The default allow-list (``allowed_imports=None``): base plus reviewed.
DEFAULT_IMPORTS = BASE_IMPORTS | REVIEWED_IMPORTS

#: numpy sub-modules a program may reach (as attributes or imports): only
#: these, never a sub-module of them that is not listed (no test modules,
#: no ctypeslib, f2py, lib.format ...).
NUMPY_MODULES = frozenset({
    "numpy", "numpy.random", "numpy.linalg", "numpy.fft", "numpy.lib", "numpy.lib.stride_tricks",
})

#: The one module a program may import for annotations only: the audit
#: accepts its names in annotations and nowhere else, and the compiled program
#: keeps neither the import nor any annotation, so nothing of it runs.
ANNOTATION_MODULE = "typing"

#: Every module a program may hold: the zygote preloads exactly these.
ALLOWED_MODULES = NUMPY_MODULES | DEFAULT_IMPORTS

_NUMPY_UFUNCS = """
abs absolute arccos arccosh arcsin arcsinh arctan arctan2 arctanh add cbrt ceil conj conjugate
copysign cos cosh deg2rad degrees divide divmod equal exp exp2 expm1 fabs float_power floor
floor_divide fmax fmin fmod frexp gcd greater greater_equal heaviside hypot isfinite isinf isnan
lcm ldexp less less_equal log log10 log1p log2 logaddexp logaddexp2 logical_and logical_not
logical_or logical_xor matmul maximum minimum mod modf multiply negative nextafter not_equal
positive power rad2deg radians reciprocal remainder rint sign signbit sin sinh spacing sqrt square
subtract tan tanh true_divide trunc bitwise_and bitwise_or bitwise_xor invert
"""
_NUMPY_FUNCTIONS = """
all allclose amax amin any append apply_along_axis arange argmax argmin argpartition argsort
argwhere around array array_equal array_split asarray ascontiguousarray atleast_1d atleast_2d
atleast_3d average bincount broadcast_arrays broadcast_to block clip column_stack concatenate
convolve copy corrcoef correlate count_nonzero cov cross cumprod cumsum deg2rad delete diag
diag_indices diagflat diagonal diff digitize dot dsplit dstack einsum empty empty_like expand_dims
eye fill_diagonal flatnonzero flip fliplr flipud full full_like geomspace gradient histogram
histogram_bin_edges histogramdd hsplit hstack identity indices inner insert interp intersect1d
isclose iscomplexobj isin isreal isrealobj isscalar kron lexsort linspace logspace mean median meshgrid
moveaxis nan_to_num nanargmax nanargmin nancumsum nanmax nanmean nanmedian nanmin nanpercentile
nanquantile nanstd nansum nanvar ndim nonzero ones ones_like outer partition percentile pad
prod ptp put quantile ravel ravel_multi_index repeat reshape resize roll rollaxis rot90 round
searchsorted select setdiff1d shape sinc size sort split squeeze stack std sum swapaxes take
take_along_axis tensordot tile trace transpose trapezoid tri tril tril_indices triu triu_indices
union1d unique unravel_index unwrap vander var vdot vsplit vstack where zeros zeros_like
errstate seterr geterr set_printoptions get_printoptions printoptions array2string array_repr
array_str format_float_positional iinfo finfo result_type promote_types can_cast issubdtype
r_ c_ s_ ix_ mgrid ogrid index_exp ndindex ndenumerate fromiter array_equiv asanyarray require
cumulative_sum cumulative_prod unique_counts unique_values unique_inverse histogram2d nancumprod
nanprod logical_and cbrt
"""
_NUMPY_CONSTANTS = """
pi e inf nan newaxis euler_gamma ndarray dtype generic number integer floating
float64 float32 float16 int64 int32 int16 int8 uint8 uint16 uint32 uint64 intp bool_ bool
complex128 complex64 double single longdouble int_ intc uint longlong
random linalg fft lib
"""
_NUMPY_RANDOM = """
default_rng RandomState seed rand randn randint random random_sample ranf sample random_integers
choice shuffle permutation normal uniform standard_normal multivariate_normal dirichlet exponential
laplace beta gamma binomial poisson chisquare standard_t lognormal logistic gumbel weibull pareto
power rayleigh triangular vonmises wald geometric multinomial standard_cauchy standard_exponential
standard_gamma f noncentral_chisquare noncentral_f hypergeometric negative_binomial zipf logseries
Generator
"""
_NUMPY_LINALG = """
norm svd eig eigh eigvals eigvalsh inv pinv det slogdet solve lstsq qr cholesky matrix_rank
matrix_power cond multi_dot LinAlgError
"""
_NUMPY_FFT = "fft ifft rfft irfft fft2 ifft2 fftn ifftn fftfreq rfftfreq fftshift ifftshift"
_MATH = """
pi e tau inf nan sqrt exp expm1 log log1p log2 log10 pow sin cos tan asin acos atan atan2 sinh cosh
tanh asinh acosh atanh hypot degrees radians ceil floor trunc fabs fmod copysign isfinite isinf
isnan isclose factorial comb perm gcd lcm erf erfc gamma lgamma fsum prod dist modf frexp
ldexp cbrt exp2 isqrt
"""
_RANDOM = """
random uniform gauss normalvariate choice choices sample shuffle randint randrange seed Random
betavariate expovariate lognormvariate triangular vonmisesvariate gammavariate paretovariate
weibullvariate getrandbits
"""
_STATISTICS = """
mean fmean geometric_mean harmonic_mean median median_low median_high median_grouped mode
multimode quantiles stdev pstdev variance pvariance correlation covariance linear_regression
StatisticsError
"""
_WARNINGS = "warn simplefilter filterwarnings catch_warnings"
_SCIPY_SPATIAL = "KDTree cKDTree ConvexHull Delaunay distance distance_matrix minkowski_distance"
_SCIPY_DISTANCE = """
cdist pdist squareform euclidean sqeuclidean cityblock chebyshev cosine correlation mahalanobis
minkowski seuclidean braycurtis canberra jensenshannon
"""
_SCIPY_STATS = """
norm multivariate_normal t chi2 uniform expon laplace gamma beta lognorm cauchy truncnorm
gaussian_kde zscore rankdata scoreatpercentile percentileofscore iqr median_abs_deviation skew
kurtosis pearsonr spearmanr kendalltau entropy mode describe trim_mean special_ortho_group
ortho_group multivariate_t gmean hmean sem trimboth wasserstein_distance ks_2samp chi weibull_min
pareto dirichlet poisson binom bernoulli halfnorm skewnorm
"""
_SCIPY_OPTIMIZE = """
minimize minimize_scalar least_squares linear_sum_assignment brentq bisect root_scalar
"""
_SCIPY_SPECIAL = """
expit logit erf erfc erfinv gamma gammaln logsumexp softmax ndtr ndtri xlogy comb digamma beta betaln
"""
_SKLEARN = {
    "sklearn.neighbors": "NearestNeighbors LocalOutlierFactor KernelDensity KDTree BallTree",
    "sklearn.cluster": "KMeans MiniBatchKMeans DBSCAN AgglomerativeClustering Birch MeanShift",
    "sklearn.decomposition": "PCA TruncatedSVD FastICA FactorAnalysis KernelPCA IncrementalPCA",
    "sklearn.covariance": "EmpiricalCovariance MinCovDet LedoitWolf OAS ShrunkCovariance "
                          "EllipticEnvelope empirical_covariance",
    "sklearn.ensemble": "IsolationForest RandomForestRegressor RandomForestClassifier "
                        "ExtraTreesRegressor ExtraTreesClassifier GradientBoostingRegressor",
    "sklearn.preprocessing": "StandardScaler MinMaxScaler RobustScaler QuantileTransformer "
                             "PowerTransformer scale minmax_scale normalize",
    "sklearn.mixture": "GaussianMixture BayesianGaussianMixture",
}

#: Names a program may read on each allowed module: allow-list by function,
#: not by package.  Everything else on a module is refused (and recorded as
#: a violation), whatever its value.
MODULE_ATTRIBUTES = types.MappingProxyType({
    "numpy": frozenset((_NUMPY_UFUNCS + _NUMPY_FUNCTIONS + _NUMPY_CONSTANTS).split()),
    "numpy.random": frozenset(_NUMPY_RANDOM.split()),
    "numpy.linalg": frozenset(_NUMPY_LINALG.split()),
    "numpy.fft": frozenset(_NUMPY_FFT.split()),
    "numpy.lib": frozenset({"stride_tricks"}),
    "numpy.lib.stride_tricks": frozenset({"sliding_window_view"}),
    "math": frozenset(_MATH.split()),
    "random": frozenset(_RANDOM.split()),
    "statistics": frozenset(_STATISTICS.split()),
    "warnings": frozenset(_WARNINGS.split()),
    "scipy.spatial": frozenset(_SCIPY_SPATIAL.split()),
    "scipy.spatial.distance": frozenset(_SCIPY_DISTANCE.split()),
    "scipy.stats": frozenset(_SCIPY_STATS.split()),
    "scipy.optimize": frozenset(_SCIPY_OPTIMIZE.split()),
    "scipy.special": frozenset(_SCIPY_SPECIAL.split()),
    **{name: frozenset(names.split()) for name, names in _SKLEARN.items()},
})

#: Attribute names refused on every object (arrays, generators, estimators):
#: entry points that touch files, pickles, raw memory or native code.
#: ``data``/``base``/``ctypes`` (raw buffers and addresses) and
#: ``tobytes`` (pointer bytes of object arrays) and ``capsule`` (a bit
#: generator's C function pointers) are raw-memory routes.
NUMPY_DENIED = frozenset({
    "load", "loads", "save", "savez", "savez_compressed", "savetxt",
    "loadtxt", "genfromtxt", "fromfile", "tofile", "fromregex", "memmap",
    "open_memmap", "ctypeslib", "ctypes", "cffi", "f2py", "testing", "tests",
    "distutils", "DataSource", "dump", "dumps", "frombuffer", "as_strided",
    "core", "npyio", "source",
    "info", "lookfor", "show_config", "show_runtime", "get_include",
    "byte_bounds", "setbufsize", "getbuffer", "newbuffer", "compat",
    "exceptions", "matlib", "ctypes_load_library", "load_library",
    "data", "base", "tobytes", "tostring", "setflags", "getfield", "setfield", "capsule",
    # KDTree/BallTree internals (index arrays their C code trusts)
    "get_arrays",
    "__array_interface__", "__array_struct__",
    # np.test / scipy.test run pytest; sklearn.show_versions probes the system
    "test", "show_versions",
})

#: Classes of values library calls return that a program may hold besides
#: the classes listed on the allowed modules (result tuples and bunches of
#: ``numpy``, ``scipy.stats`` and ``scipy.optimize``, and frozen
#: distributions, are allowed by name pattern).
RESULT_CLASSES = frozenset({
    "scipy.optimize._lbfgsb_py.LbfgsInvHessProduct",  # OptimizeResult.hess_inv (pure Python)
})

#: Mutating methods refused on dict subclasses (scipy's ``OptimizeResult``,
#: sklearn's ``Bunch``): they serve keys as attributes, so a computed key
#: such as ``"__array_interface__"`` would become an attribute numpy reads.
ATTRIBUTE_DICT_DENIED = frozenset({"update", "setdefault", "fromkeys"})

#: Refused on objects other than modules: ``ndarray.resize`` works in place
#: and with ``refcheck=False`` frees memory a view still points to
#: (``np.resize``, the function, returns a new array and stays allowed).
OBJECT_DENIED = frozenset({"resize"})

#: Introspection attributes that lead to frames, code and globals.  (The
#: ``str.format`` family is served by the guard with its fields checked.)
INSPECT_ATTRIBUTES = frozenset({
    "vformat", "get_field", "get_value",
    "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await",
    "ag_frame", "ag_code", "tb_frame", "tb_next", "f_back", "f_builtins",
    "f_code", "f_globals", "f_locals", "f_trace", "f_generator", "co_code",
    "func_globals", "func_code", "mro", "im_func", "im_self",
})

#: Builtin names a program may not mention at all.
FORBIDDEN_NAMES = frozenset({
    "eval", "exec", "compile", "open", "__import__", "getattr", "setattr",
    "delattr", "globals", "locals", "vars", "dir", "breakpoint",
    "input", "memoryview", "help", "exit", "quit", "super", "object", "id",
    "classmethod", "staticmethod", "property", "__build_class__",
    "__builtins__", "__loader__", "__spec__", "copyright", "credits",
    "license", "bytearray",
})

#: Packages whose functions and methods a program may be handed; a callable
#: from anywhere else (functools, dataclasses, codecs, unittest, _pytest ...)
#: is refused whatever object it was reached through (``_warnings`` is the C
#: half of ``warnings``).  ``synthesis_program`` is the program's own module.
TRUSTED_PACKAGES = frozenset({
    "numpy", "scipy", "sklearn", "math", "random", "statistics", "warnings", "_warnings",
    "synthesis_program",
})

#: AST node types a program may contain.  Anything else (async, await,
#: match, try-star ...) is refused: new syntax stays untrusted until reviewed.
#: Classes are limited further by the audit (no dunder members but
#: ``__init__``, no bases but ``object``, no keywords or decorators).
ALLOWED_NODES = frozenset({
    ast.Module, ast.FunctionDef, ast.arguments, ast.arg, ast.Return,
    ast.Assign, ast.AugAssign, ast.AnnAssign, ast.For, ast.While, ast.If,
    ast.With, ast.withitem, ast.Raise, ast.Try, ast.ExceptHandler, ast.Assert,
    ast.Import, ast.ImportFrom, ast.alias, ast.Expr, ast.Pass, ast.Break,
    ast.Continue, ast.Delete, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Lambda,
    ast.IfExp, ast.Dict, ast.Set, ast.ListComp, ast.SetComp, ast.DictComp,
    ast.GeneratorExp, ast.comprehension, ast.Compare, ast.Call, ast.keyword,
    ast.FormattedValue, ast.JoinedStr, ast.Constant, ast.Attribute,
    ast.Subscript, ast.Starred, ast.Name, ast.List, ast.Tuple, ast.Slice,
    ast.Load, ast.Store, ast.Del, ast.NamedExpr, ast.ClassDef, ast.Global,
    ast.Nonlocal, ast.Yield, ast.YieldFrom,
    # operators
    ast.And, ast.Or, ast.Add, ast.Sub, ast.Mult, ast.MatMult, ast.Div,
    ast.Mod, ast.Pow, ast.LShift, ast.RShift, ast.BitOr, ast.BitXor,
    ast.BitAnd, ast.FloorDiv, ast.Invert, ast.Not, ast.UAdd, ast.USub,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Is, ast.IsNot,
    ast.In, ast.NotIn,
})

#: Statements allowed at module level besides the functions (an ``If`` only
#: as ``if __name__ == "__main__":``, checked by the audit).
TOP_LEVEL_NODES = frozenset({
    ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom, ast.Assign,
    ast.AnnAssign, ast.Expr, ast.If,
})

#: Dunder methods a program's class may define.
CLASS_DUNDERS = frozenset({"__init__"})

#: Names RestrictedPython's generated code and the worker's globals use: a
#: program may not bind or read them, or it would replace a guard.
RESERVED_NAMES = frozenset({"_print"})



def is_dunder(name):
    """Return True for ``__x__``-style names."""
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def is_private_name(name):
    """``_x``-style names a program may use for its own helpers.

    Dunders, names ending in ``_`` (RestrictedPython's hooks such as
    ``_getattr_``) and the reserved names stay refused.
    """
    return (name.startswith("_") and not name.endswith("_") and name not in RESERVED_NAMES
            and not name.startswith("__"))


def module_allowed(module_name, allowed_imports):
    """Whether a module may be handed to a program.

    Only modules listed in ``ALLOWED_MODULES`` (so with a reviewed attribute
    list), and of those only the ones ``allowed_imports`` names (numpy's
    sub-modules come with ``numpy``); never a sub-module not listed.
    """
    if module_name not in ALLOWED_MODULES:
        return False
    if module_name in NUMPY_MODULES:
        return "numpy" in allowed_imports
    return module_name in allowed_imports


@functools.lru_cache(maxsize=256)
def readable_names(module_name, allowed_imports):
    """Attribute names a program may read on a module, or None if it may hold none.

    An allowed module gives its ``MODULE_ATTRIBUTES``; a parent package
    (``scipy`` after ``import scipy.stats``) gives only its allowed children.
    """
    if module_allowed(module_name, allowed_imports):
        return MODULE_ATTRIBUTES[module_name]
    children = frozenset(
        allowed.rpartition(".")[2] for allowed in ALLOWED_MODULES
        if allowed.rpartition(".")[0] == module_name and module_allowed(allowed, allowed_imports)
    )
    return children or None


def importable(module_name, fromlist, allowed_imports):
    """Whether ``import module_name`` (``from module_name import *fromlist``) may run.

    An allowed module, or a parent package when every imported name is an
    allowed child (``from scipy import stats``).
    """
    if module_allowed(module_name, allowed_imports):
        return True
    children = readable_names(module_name, allowed_imports)
    return bool(fromlist) and children is not None and all(name in children for name in fromlist)
