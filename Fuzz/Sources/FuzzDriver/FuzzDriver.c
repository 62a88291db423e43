// The declaration in include/FuzzDriver.h is all this target provides; SwiftPM needs one source file.
#include "FuzzDriver.h"
