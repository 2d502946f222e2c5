# Finds Arrow C++, Acero, Dataset and Parquet inside the pyarrow wheel of the project's Python
# (the wheel ships headers and versioned shared libraries, but no CMake config) and defines
# imported targets Arrow::arrow, Arrow::compute, Arrow::acero, Arrow::dataset, Arrow::parquet,
# Arrow::s3 (arrow::fs::S3FileSystem and InitializeS3/FinalizeS3 live in libarrow_s3, not libarrow).
#
# Input: STRATA_PYTHON (the interpreter whose pyarrow we build against).
# Output: ArrowFromPyarrow_FOUND, PYARROW_LIB_DIR, PYARROW_VERSION.

if(NOT STRATA_PYTHON)
  message(FATAL_ERROR "STRATA_PYTHON is not set: point it at the .venv interpreter (scripts/setup creates it)")
endif()

execute_process(
  COMMAND "${STRATA_PYTHON}" -c
    "import pyarrow as pa; print(pa.get_include()); print(pa.get_library_dirs()[0]); print(pa.__version__); print(pa.cpp_build_info.so_version)"
  OUTPUT_VARIABLE _pa_out
  RESULT_VARIABLE _pa_rc
  ERROR_VARIABLE _pa_err
  OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _pa_rc EQUAL 0)
  message(FATAL_ERROR "cannot import pyarrow with ${STRATA_PYTHON}: ${_pa_err}\nRun scripts/setup first.")
endif()
string(REPLACE "\n" ";" _pa_lines "${_pa_out}")
list(GET _pa_lines 0 PYARROW_INCLUDE_DIR)
list(GET _pa_lines 1 PYARROW_LIB_DIR)
list(GET _pa_lines 2 PYARROW_VERSION)
list(GET _pa_lines 3 PYARROW_SO_VERSION)

function(_strata_arrow_lib target libname)
  set(_path "${PYARROW_LIB_DIR}/lib${libname}.so.${PYARROW_SO_VERSION}")
  if(NOT EXISTS "${_path}")
    message(FATAL_ERROR "pyarrow ${PYARROW_VERSION} has no ${_path}")
  endif()
  add_library(${target} SHARED IMPORTED GLOBAL)
  set_target_properties(${target} PROPERTIES
    IMPORTED_LOCATION "${_path}"
    IMPORTED_NO_SONAME FALSE
    INTERFACE_INCLUDE_DIRECTORIES "${PYARROW_INCLUDE_DIR}")
endfunction()

_strata_arrow_lib(Arrow::arrow arrow)
_strata_arrow_lib(Arrow::compute arrow_compute)
_strata_arrow_lib(Arrow::acero arrow_acero)
_strata_arrow_lib(Arrow::dataset arrow_dataset)
_strata_arrow_lib(Arrow::parquet parquet)
_strata_arrow_lib(Arrow::s3 arrow_s3)
set_property(TARGET Arrow::compute APPEND PROPERTY INTERFACE_LINK_LIBRARIES Arrow::arrow)
set_property(TARGET Arrow::acero APPEND PROPERTY INTERFACE_LINK_LIBRARIES Arrow::compute)
set_property(TARGET Arrow::parquet APPEND PROPERTY INTERFACE_LINK_LIBRARIES Arrow::arrow)
set_property(TARGET Arrow::s3 APPEND PROPERTY INTERFACE_LINK_LIBRARIES Arrow::arrow)
set_property(TARGET Arrow::dataset APPEND PROPERTY INTERFACE_LINK_LIBRARIES Arrow::acero Arrow::parquet)

set(ArrowFromPyarrow_FOUND TRUE)
message(STATUS "Arrow ${PYARROW_VERSION} from pyarrow: ${PYARROW_LIB_DIR}")
