#include "bind_util.h"

namespace strata_py {

void BindQuality(nb::module_& m) {}

}  // namespace strata_py
