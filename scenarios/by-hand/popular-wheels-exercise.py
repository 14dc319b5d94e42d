"""First use of each popular wheel a cell imported (see README, "Checking your own wheels")."""

import sys

loaded = sys.modules
if "numpy" in loaded:
    import numpy as np

    assert int(np.arange(5).sum()) == 10
    np.linalg.inv(np.eye(3))
if "pyarrow" in loaded:
    import pyarrow as pa
    import pyarrow.compute as pc

    assert pc.sum(pa.array([1, 2, 3])).as_py() == 6
if "grpc" in loaded:
    import grpc

    grpc.insecure_channel("localhost:1").close()
if "google.protobuf" in loaded:
    from google.protobuf import struct_pb2

    message = struct_pb2.Struct()
    message["k"] = 1.0
    assert struct_pb2.Struct.FromString(message.SerializeToString())["k"] == 1.0
if "cv2" in loaded:
    import cv2
    import numpy as np

    assert cv2.GaussianBlur(np.ones((8, 8), np.uint8), (3, 3), 0).shape == (8, 8)
if "onnxruntime" in loaded:
    import onnxruntime as ort

    assert "CPUExecutionProvider" in ort.get_available_providers()
if "sklearn" in loaded:
    import numpy as np
    from sklearn.linear_model import LinearRegression

    fitted = LinearRegression().fit(np.arange(6).reshape(-1, 1), np.arange(6) * 2.0)
    assert abs(fitted.coef_[0] - 2) < 1e-6
if "lxml" in loaded:
    from lxml import etree

    assert etree.fromstring(b"<a><b/></a>")[0].tag == "b"
