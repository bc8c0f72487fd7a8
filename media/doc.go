// Package media prepares pictures for posting: it says what a file is
// (Probe), makes it fit what a destination accepts (Fit), takes a photo
// with an external command (Camera.Capture), and lays out the
// multipart/form-data body that carries a picture to a server (Multipart).
//
// Memory is bounded throughout. Probe reads only the header. Fit refuses,
// from the header and before decoding, a picture whose decoded pixels
// would not fit in its memory bound (MaxMemory, 48 MiB), and
// scales it in a stream of rows instead of through a whole-image
// intermediate, so a 12-megapixel camera JPEG is made to fit in well under
// 64 MiB. A multipart body is read from the disk as it is sent, never held
// in memory.
//
// A file that already fits is used as it is: Fit makes no copy. A file
// that does not is decoded, turned upright as its EXIF orientation says,
// scaled down and encoded again, which drops its metadata. A JPEG whose
// EXIF holds a GPS position never goes out as it is: its metadata segments
// are removed (the picture data is copied unchanged) so a post never
// carries where the photo was taken.
package media
