"""Multi-camera geometry, pure computation on arrays and :mod:`dlcflow.data.cameras`:
calibration boards, camera calibration and bundle adjustment, triangulation (DLT over any
number of cameras, DLC's rectified stereo), and matching individuals across views."""
