def forward(self, x):
    conv1 = self.conv1(x);  x = None
    bn1 = self.bn1(conv1);  conv1 = None
    relu1 = self.relu1(bn1);  bn1 = None
    maxpool1 = self.maxpool1(relu1);  relu1 = None
    stage1_layer1_conv1 = self.stage1.layer1.conv1(maxpool1)
    stage1_layer1_bn1 = self.stage1.layer1.bn1(stage1_layer1_conv1);  stage1_layer1_conv1 = None
    stage1_layer1_relu1 = self.stage1.layer1.relu1(stage1_layer1_bn1);  stage1_layer1_bn1 = None
    stage1_layer1_conv2 = self.stage1.layer1.conv2(stage1_layer1_relu1);  stage1_layer1_relu1 = None
    stage1_layer1_bn2 = self.stage1.layer1.bn2(stage1_layer1_conv2);  stage1_layer1_conv2 = None
    stage1_layer1_add1 = maxpool1 + stage1_layer1_bn2;  maxpool1 = stage1_layer1_bn2 = None
    stage1_layer1_relu2 = self.stage1.layer1.relu2(stage1_layer1_add1);  stage1_layer1_add1 = None
    stage1_layer2_conv1 = self.stage1.layer2.conv1(stage1_layer1_relu2)
    stage1_layer2_bn1 = self.stage1.layer2.bn1(stage1_layer2_conv1);  stage1_layer2_conv1 = None
    stage1_layer2_relu1 = self.stage1.layer2.relu1(stage1_layer2_bn1);  stage1_layer2_bn1 = None
    stage1_layer2_conv2 = self.stage1.layer2.conv2(stage1_layer2_relu1);  stage1_layer2_relu1 = None
    stage1_layer2_bn2 = self.stage1.layer2.bn2(stage1_layer2_conv2);  stage1_layer2_conv2 = None
    stage1_layer2_add1 = stage1_layer1_relu2 + stage1_layer2_bn2;  stage1_layer1_relu2 = stage1_layer2_bn2 = None
    stage1_layer2_relu2 = self.stage1.layer2.relu2(stage1_layer2_add1);  stage1_layer2_add1 = None
    stage2_layer1_conv1 = self.stage2.layer1.conv1(stage1_layer2_relu2)
    stage2_layer1_bn1 = self.stage2.layer1.bn1(stage2_layer1_conv1);  stage2_layer1_conv1 = None
    stage2_layer1_relu1 = self.stage2.layer1.relu1(stage2_layer1_bn1);  stage2_layer1_bn1 = None
    stage2_layer1_conv2 = self.stage2.layer1.conv2(stage2_layer1_relu1);  stage2_layer1_relu1 = None
    stage2_layer1_bn2 = self.stage2.layer1.bn2(stage2_layer1_conv2);  stage2_layer1_conv2 = None
    stage2_layer1_shortcut1_conv1 = self.stage2.layer1.shortcut1.conv1(stage1_layer2_relu2);  stage1_layer2_relu2 = None
    stage2_layer1_shortcut1_bn1 = self.stage2.layer1.shortcut1.bn1(stage2_layer1_shortcut1_conv1);  stage2_layer1_shortcut1_conv1 = None
    stage2_layer1_add1 = stage2_layer1_shortcut1_bn1 + stage2_layer1_bn2;  stage2_layer1_shortcut1_bn1 = stage2_layer1_bn2 = None
    stage2_layer1_relu2 = self.stage2.layer1.relu2(stage2_layer1_add1);  stage2_layer1_add1 = None
    stage2_layer2_conv1 = self.stage2.layer2.conv1(stage2_layer1_relu2)
    stage2_layer2_bn1 = self.stage2.layer2.bn1(stage2_layer2_conv1);  stage2_layer2_conv1 = None
    stage2_layer2_relu1 = self.stage2.layer2.relu1(stage2_layer2_bn1);  stage2_layer2_bn1 = None
    stage2_layer2_conv2 = self.stage2.layer2.conv2(stage2_layer2_relu1);  stage2_layer2_relu1 = None
    stage2_layer2_bn2 = self.stage2.layer2.bn2(stage2_layer2_conv2);  stage2_layer2_conv2 = None
    stage2_layer2_add1 = stage2_layer1_relu2 + stage2_layer2_bn2;  stage2_layer1_relu2 = stage2_layer2_bn2 = None
    stage2_layer2_relu2 = self.stage2.layer2.relu2(stage2_layer2_add1);  stage2_layer2_add1 = None
    stage3_layer1_conv1 = self.stage3.layer1.conv1(stage2_layer2_relu2)
    stage3_layer1_bn1 = self.stage3.layer1.bn1(stage3_layer1_conv1);  stage3_layer1_conv1 = None
    stage3_layer1_relu1 = self.stage3.layer1.relu1(stage3_layer1_bn1);  stage3_layer1_bn1 = None
    stage3_layer1_conv2 = self.stage3.layer1.conv2(stage3_layer1_relu1);  stage3_layer1_relu1 = None
    stage3_layer1_bn2 = self.stage3.layer1.bn2(stage3_layer1_conv2);  stage3_layer1_conv2 = None
    stage3_layer1_shortcut1_conv1 = self.stage3.layer1.shortcut1.conv1(stage2_layer2_relu2);  stage2_layer2_relu2 = None
    stage3_layer1_shortcut1_bn1 = self.stage3.layer1.shortcut1.bn1(stage3_layer1_shortcut1_conv1);  stage3_layer1_shortcut1_conv1 = None
    stage3_layer1_add1 = stage3_layer1_shortcut1_bn1 + stage3_layer1_bn2;  stage3_layer1_shortcut1_bn1 = stage3_layer1_bn2 = None
    stage3_layer1_relu2 = self.stage3.layer1.relu2(stage3_layer1_add1);  stage3_layer1_add1 = None
    stage3_layer2_conv1 = self.stage3.layer2.conv1(stage3_layer1_relu2)
    stage3_layer2_bn1 = self.stage3.layer2.bn1(stage3_layer2_conv1);  stage3_layer2_conv1 = None
    stage3_layer2_relu1 = self.stage3.layer2.relu1(stage3_layer2_bn1);  stage3_layer2_bn1 = None
    stage3_layer2_conv2 = self.stage3.layer2.conv2(stage3_layer2_relu1);  stage3_layer2_relu1 = None
    stage3_layer2_bn2 = self.stage3.layer2.bn2(stage3_layer2_conv2);  stage3_layer2_conv2 = None
    stage3_layer2_add1 = stage3_layer1_relu2 + stage3_layer2_bn2;  stage3_layer1_relu2 = stage3_layer2_bn2 = None
    stage3_layer2_relu2 = self.stage3.layer2.relu2(stage3_layer2_add1);  stage3_layer2_add1 = None
    stage4_layer1_conv1 = self.stage4.layer1.conv1(stage3_layer2_relu2)
    stage4_layer1_bn1 = self.stage4.layer1.bn1(stage4_layer1_conv1);  stage4_layer1_conv1 = None
    stage4_layer1_relu1 = self.stage4.layer1.relu1(stage4_layer1_bn1);  stage4_layer1_bn1 = None
    stage4_layer1_conv2 = self.stage4.layer1.conv2(stage4_layer1_relu1);  stage4_layer1_relu1 = None
    stage4_layer1_bn2 = self.stage4.layer1.bn2(stage4_layer1_conv2);  stage4_layer1_conv2 = None
    stage4_layer1_shortcut1_conv1 = self.stage4.layer1.shortcut1.conv1(stage3_layer2_relu2);  stage3_layer2_relu2 = None
    stage4_layer1_shortcut1_bn1 = self.stage4.layer1.shortcut1.bn1(stage4_layer1_shortcut1_conv1);  stage4_layer1_shortcut1_conv1 = None
    stage4_layer1_add1 = stage4_layer1_shortcut1_bn1 + stage4_layer1_bn2;  stage4_layer1_shortcut1_bn1 = stage4_layer1_bn2 = None
    stage4_layer1_relu2 = self.stage4.layer1.relu2(stage4_layer1_add1);  stage4_layer1_add1 = None
    stage4_layer2_conv1 = self.stage4.layer2.conv1(stage4_layer1_relu2)
    stage4_layer2_bn1 = self.stage4.layer2.bn1(stage4_layer2_conv1);  stage4_layer2_conv1 = None
    stage4_layer2_relu1 = self.stage4.layer2.relu1(stage4_layer2_bn1);  stage4_layer2_bn1 = None
    stage4_layer2_conv2 = self.stage4.layer2.conv2(stage4_layer2_relu1);  stage4_layer2_relu1 = None
    stage4_layer2_bn2 = self.stage4.layer2.bn2(stage4_layer2_conv2);  stage4_layer2_conv2 = None
    stage4_layer2_add1 = stage4_layer1_relu2 + stage4_layer2_bn2;  stage4_layer1_relu2 = stage4_layer2_bn2 = None
    stage4_layer2_relu2 = self.stage4.layer2.relu2(stage4_layer2_add1);  stage4_layer2_add1 = None
    gap1 = self.gap1(stage4_layer2_relu2);  stage4_layer2_relu2 = None
    flatten1 = self.flatten1(gap1);  gap1 = None
    linear1 = self.linear1(flatten1);  flatten1 = None
    return linear1
    