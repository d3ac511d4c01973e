"""Exports spec/fixtures/view-reshape.onnx: x.view(x.size(0), -1) as PyTorch exports it (Shape→Gather→Unsqueeze→Concat→Reshape), then a final softmax. Run: /usr/bin/python3 scripts/golden/make_view_reshape.py"""
import torch, torch.nn as nn
class M(nn.Module):
    def __init__(s):
        super().__init__(); s.c=nn.Conv2d(1,4,3); s.l=nn.Linear(4*6*6,3)
    def forward(s,x):
        y=torch.relu(s.c(x)); return torch.softmax(s.l(y.view(y.size(0),-1)),1)
torch.manual_seed(0); m=M().eval()
torch.onnx.export(m, torch.randn(2,1,8,8), '/work/main/spec/fixtures/view-reshape.onnx', opset_version=13, input_names=['input'], output_names=['probs'], dynamic_axes={'input':{0:'batch'},'probs':{0:'batch'}})
