#ifndef STUDENT_INT8_H_
#define STUDENT_INT8_H_

// The model for tflite::GetModel(student_int8_tflite): 99440 bytes of flash.
// TFLite Micro's allocator took 55776 bytes of tensor arena on the host;
// give the board's arena that much and a margin (pointer sizes differ).
extern const unsigned char student_int8_tflite[];
extern const unsigned int student_int8_tflite_len;

#endif  // STUDENT_INT8_H_
