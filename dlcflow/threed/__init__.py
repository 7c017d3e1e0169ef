"""DLC's 3D stages on a 3D project's files: calibrate the cameras, check the
undistortion, triangulate the 2D poses of every view, filter and show the 3D poses."""
