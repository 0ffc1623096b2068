"""The Open Inference Protocol over gRPC (``inference.GRPCInferenceService``), a transport over the scoring core.

``grpc_predict_v2.proto`` is the protocol's proto; ``grpc_predict_v2_pb2`` is generated from it
(``make grpc-proto``); ``tensors`` maps protobuf tensors to the V2 JSON shapes the data plane
checks; ``servicer`` answers the RPCs; ``server`` runs them on the app's event loop.
"""
