#ifndef STUDENT_INT8_OPS_H_
#define STUDENT_INT8_OPS_H_

#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"

// The 4 operators of the model, read from its file: CONV_2D, ADD, MEAN, FULLY_CONNECTED.
using student_int8_tflite_op_resolver = tflite::MicroMutableOpResolver<4>;

inline TfLiteStatus student_int8_tflite_register_ops(student_int8_tflite_op_resolver& resolver) {
  if (resolver.AddConv2D() != kTfLiteOk) return kTfLiteError;
  if (resolver.AddAdd() != kTfLiteOk) return kTfLiteError;
  if (resolver.AddMean() != kTfLiteOk) return kTfLiteError;
  if (resolver.AddFullyConnected() != kTfLiteOk) return kTfLiteError;
  return kTfLiteOk;
}

#endif  // STUDENT_INT8_OPS_H_
