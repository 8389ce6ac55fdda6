def forward(self, x):
    conv1 = self.conv1(x);  x = None
    stage1_layer1_bn1 = self.stage1.layer1.bn1(conv1)
    stage1_layer1_relu1 = self.stage1.layer1.relu1(stage1_layer1_bn1);  stage1_layer1_bn1 = None
    stage1_layer1_conv1 = self.stage1.layer1.conv1(stage1_layer1_relu1);  stage1_layer1_relu1 = None
    stage1_layer2_concat1 = torch.cat([stage1_layer1_conv1, conv1], dim = 1)
    stage1_layer2_bn1 = self.stage1.layer2.bn1(stage1_layer2_concat1);  stage1_layer2_concat1 = None
    stage1_layer2_relu1 = self.stage1.layer2.relu1(stage1_layer2_bn1);  stage1_layer2_bn1 = None
    stage1_layer2_conv1 = self.stage1.layer2.conv1(stage1_layer2_relu1);  stage1_layer2_relu1 = None
    stage1_layer3_concat1 = torch.cat([stage1_layer2_conv1, stage1_layer1_conv1], dim = 1)
    stage1_layer3_bn1 = self.stage1.layer3.bn1(stage1_layer3_concat1);  stage1_layer3_concat1 = None
    stage1_layer3_relu1 = self.stage1.layer3.relu1(stage1_layer3_bn1);  stage1_layer3_bn1 = None
    stage1_layer3_conv1 = self.stage1.layer3.conv1(stage1_layer3_relu1);  stage1_layer3_relu1 = None
    stage1_layer4_concat1 = torch.cat([stage1_layer3_conv1, stage1_layer2_conv1, conv1], dim = 1);  stage1_layer2_conv1 = conv1 = None
    stage1_layer4_bn1 = self.stage1.layer4.bn1(stage1_layer4_concat1);  stage1_layer4_concat1 = None
    stage1_layer4_relu1 = self.stage1.layer4.relu1(stage1_layer4_bn1);  stage1_layer4_bn1 = None
    stage1_layer4_conv1 = self.stage1.layer4.conv1(stage1_layer4_relu1);  stage1_layer4_relu1 = None
    stage1_concat1 = torch.cat([stage1_layer4_conv1, stage1_layer3_conv1, stage1_layer1_conv1], dim = 1);  stage1_layer4_conv1 = stage1_layer3_conv1 = stage1_layer1_conv1 = None
    transition1_bn1 = self.transition1.bn1(stage1_concat1);  stage1_concat1 = None
    transition1_relu1 = self.transition1.relu1(transition1_bn1);  transition1_bn1 = None
    transition1_conv1 = self.transition1.conv1(transition1_relu1);  transition1_relu1 = None
    transition1_avgpool1 = self.transition1.avgpool1(transition1_conv1);  transition1_conv1 = None
    stage2_layer1_bn1 = self.stage2.layer1.bn1(transition1_avgpool1)
    stage2_layer1_relu1 = self.stage2.layer1.relu1(stage2_layer1_bn1);  stage2_layer1_bn1 = None
    stage2_layer1_conv1 = self.stage2.layer1.conv1(stage2_layer1_relu1);  stage2_layer1_relu1 = None
    stage2_layer2_concat1 = torch.cat([stage2_layer1_conv1, transition1_avgpool1], dim = 1)
    stage2_layer2_bn1 = self.stage2.layer2.bn1(stage2_layer2_concat1);  stage2_layer2_concat1 = None
    stage2_layer2_relu1 = self.stage2.layer2.relu1(stage2_layer2_bn1);  stage2_layer2_bn1 = None
    stage2_layer2_conv1 = self.stage2.layer2.conv1(stage2_layer2_relu1);  stage2_layer2_relu1 = None
    stage2_layer3_concat1 = torch.cat([stage2_layer2_conv1, stage2_layer1_conv1], dim = 1)
    stage2_layer3_bn1 = self.stage2.layer3.bn1(stage2_layer3_concat1);  stage2_layer3_concat1 = None
    stage2_layer3_relu1 = self.stage2.layer3.relu1(stage2_layer3_bn1);  stage2_layer3_bn1 = None
    stage2_layer3_conv1 = self.stage2.layer3.conv1(stage2_layer3_relu1);  stage2_layer3_relu1 = None
    stage2_layer4_concat1 = torch.cat([stage2_layer3_conv1, stage2_layer2_conv1, transition1_avgpool1], dim = 1);  stage2_layer2_conv1 = transition1_avgpool1 = None
    stage2_layer4_bn1 = self.stage2.layer4.bn1(stage2_layer4_concat1);  stage2_layer4_concat1 = None
    stage2_layer4_relu1 = self.stage2.layer4.relu1(stage2_layer4_bn1);  stage2_layer4_bn1 = None
    stage2_layer4_conv1 = self.stage2.layer4.conv1(stage2_layer4_relu1);  stage2_layer4_relu1 = None
    stage2_concat1 = torch.cat([stage2_layer4_conv1, stage2_layer3_conv1, stage2_layer1_conv1], dim = 1);  stage2_layer4_conv1 = stage2_layer3_conv1 = stage2_layer1_conv1 = None
    transition2_bn1 = self.transition2.bn1(stage2_concat1);  stage2_concat1 = None
    transition2_relu1 = self.transition2.relu1(transition2_bn1);  transition2_bn1 = None
    transition2_conv1 = self.transition2.conv1(transition2_relu1);  transition2_relu1 = None
    transition2_avgpool1 = self.transition2.avgpool1(transition2_conv1);  transition2_conv1 = None
    stage3_layer1_bn1 = self.stage3.layer1.bn1(transition2_avgpool1)
    stage3_layer1_relu1 = self.stage3.layer1.relu1(stage3_layer1_bn1);  stage3_layer1_bn1 = None
    stage3_layer1_conv1 = self.stage3.layer1.conv1(stage3_layer1_relu1);  stage3_layer1_relu1 = None
    stage3_layer2_concat1 = torch.cat([stage3_layer1_conv1, transition2_avgpool1], dim = 1)
    stage3_layer2_bn1 = self.stage3.layer2.bn1(stage3_layer2_concat1);  stage3_layer2_concat1 = None
    stage3_layer2_relu1 = self.stage3.layer2.relu1(stage3_layer2_bn1);  stage3_layer2_bn1 = None
    stage3_layer2_conv1 = self.stage3.layer2.conv1(stage3_layer2_relu1);  stage3_layer2_relu1 = None
    stage3_layer3_concat1 = torch.cat([stage3_layer2_conv1, stage3_layer1_conv1], dim = 1)
    stage3_layer3_bn1 = self.stage3.layer3.bn1(stage3_layer3_concat1);  stage3_layer3_concat1 = None
    stage3_layer3_relu1 = self.stage3.layer3.relu1(stage3_layer3_bn1);  stage3_layer3_bn1 = None
    stage3_layer3_conv1 = self.stage3.layer3.conv1(stage3_layer3_relu1);  stage3_layer3_relu1 = None
    stage3_layer4_concat1 = torch.cat([stage3_layer3_conv1, stage3_layer2_conv1, transition2_avgpool1], dim = 1);  stage3_layer2_conv1 = transition2_avgpool1 = None
    stage3_layer4_bn1 = self.stage3.layer4.bn1(stage3_layer4_concat1);  stage3_layer4_concat1 = None
    stage3_layer4_relu1 = self.stage3.layer4.relu1(stage3_layer4_bn1);  stage3_layer4_bn1 = None
    stage3_layer4_conv1 = self.stage3.layer4.conv1(stage3_layer4_relu1);  stage3_layer4_relu1 = None
    stage3_concat1 = torch.cat([stage3_layer4_conv1, stage3_layer3_conv1, stage3_layer1_conv1], dim = 1);  stage3_layer4_conv1 = stage3_layer3_conv1 = stage3_layer1_conv1 = None
    bn1 = self.bn1(stage3_concat1);  stage3_concat1 = None
    relu1 = self.relu1(bn1);  bn1 = None
    gap1 = self.gap1(relu1);  relu1 = None
    flatten1 = self.flatten1(gap1);  gap1 = None
    linear1 = self.linear1(flatten1);  flatten1 = None
    return linear1
    